// The article's questions F1 to F8 (docs/story.md), each a ready tab of GraphiQL, and a
// subscription that follows the log. tests/browser.rs runs every one against the demo.
'use strict';

window.orgledgerExamples = [
  {
    query: `# F1: by the end of 2008 every hamlet has resident members (8 had none a year before).
query F1_HamletsWithMembers {
  before: coverage(date: "2007-12-31") { date localities withMember withoutMember { id name } }
  after: coverage(date: "2008-12-31") { date localities withMember withoutMember { id name } }
}
`,
  },
  {
    query: `# F2: by September 2013 every hamlet has a cell (11 had none at the end of 2012).
query F2_HamletsWithCells {
  before: coverage(date: "2012-12-31") { withCell withoutCell { id name } communes { name localities withCell } }
  after: coverage(date: "2013-09-30") { withCell withoutCell { id name } }
}
`,
  },
  {
    query: `# F3: border-post members on temporary activity in hamlet cells, and the story by year.
query F3_TemporaryActivity($date: Date) {
  temporaryActivity(date: $date) {
    members fromBorderPosts
    hosts { host name members { member name homeOrgName fromBorderPost until } }
    years { year members fromBorderPosts hosts }
  }
}
`,
    variables: '{ "date": "2006-12-31" }',
  },
  {
    query: `# F4: 150 to 165 admissions a year, by sex and by commune.
query F4_Admissions {
  admissions(fromYear: 2005, toYear: 2015) {
    years { year admitted female male verified refused kinAbroad communes { name admitted } }
  }
}
`,
  },
  {
    query: `# F5: 76 cadres below standard before Project 03-ĐA/TU, none after it; and year by year.
query F5_Standardization {
  atStart: standardization(programme: "03-da-tu", date: "2012-01-01") { title starts ends belowStandardAtStart belowStandard }
  atEnd: standardization(programme: "03-da-tu", date: "2015-12-31") {
    belowStandard standardized retiredUnderPolicy gapsOpen { education politicalTheory professional stateManagement }
  }
  standardizationOverTime(programme: "03-da-tu", from: "2011-12-31", to: "2015-12-31", every: YEAR) {
    date assessed belowStandard standardized retiredUnderPolicy
  }
}
`,
  },
  {
    query: `# F6: a member of the committee attends the meetings of weak cells.
query F6_WeakCellMeetings($year: Int) {
  meetings(year: $year) { meetings ofWeakCells weakWithSupervisor weakCells { name meetings supervisorPresent supervisors { name } } }
}
`,
    variables: '{ "year": 2013 }',
  },
  {
    query: `# F7: cell resolutions on rural roads, land donation and public works.
query F7_Resolutions {
  resolutions(date: "2015-12-31") { total byTopic { ruralRoads landDonation publicWorks } }
}
`,
  },
  {
    query: `# F8: women and young cadres in the cadre plan of the 2015-2020 term.
query F8_Planning {
  planning(term: "2015-2020", date: "2015-12-31") { planned women young womenShare youngShare youngAgeLimit }
}
`,
  },
  {
    query: `# The log as it grows: the last events, then each new one once it is durable. Append
# an event (with a clerk token) in another tab to see it arrive.
subscription FollowTheLog {
  events(fromSeq: 39730) { seq type effective actor }
}
`,
  },
];
