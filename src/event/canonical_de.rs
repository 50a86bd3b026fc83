//! A record's canonical bytes read straight into typed values, without the
//! `serde_json::Value` tree: the top-level object is split into its members with their values
//! left as raw JSON, the envelope's members are parsed by hand and the rest handed to the
//! event's own `Deserialize` as the payload of its variant.
//!
//! This is the short way for the bytes a valid record has; it gives up (`None`) on anything
//! else (an escape in an envelope string, a `null`, a list that may be too long, a field the
//! event does not have), and the caller then reads the bytes the long way, through
//! `serde_json::Value`, which says what is wrong. So this reading never accepts what the long
//! one refuses, and never has to explain a refusal.

use serde::de::{self, value::BorrowedStrDeserializer, DeserializeSeed, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::catalogue::{Event, EVENT_TYPES};
use super::record::{Decision, Submission, FORMAT_VERSION, MAX_LIST_ITEMS};
use super::types::{Date, Hash, Id, Timestamp};

/// The envelope and submission of a record, as read from its canonical bytes.
pub struct Read {
    pub seq: u64,
    pub prev: Hash,
    pub recorded_at: Timestamp,
    pub actor: Id,
    pub submission: Submission,
}

/// Reads the canonical bytes of a valid record; `None` for any bytes it does not take (the
/// long reading then says why, or takes them).
pub fn read(bytes: &[u8]) -> Option<Read> {
    read_members(serde_json::from_slice(bytes).ok()?)
}

/// [`read`] of bytes already known to be UTF-8 (an export line, checked as it was read),
/// which are then not checked again string by string.
pub fn read_str(text: &str) -> Option<Read> {
    read_members(serde_json::from_str(text).ok()?)
}

fn read_members(Members(members): Members<'_>) -> Option<Read> {
    let (mut seq, mut prev, mut recorded_at, mut actor) = (None, None, None, None);
    let (mut format, mut type_name, mut effective, mut decision) = (None, None, None, None);
    let mut fields = Vec::with_capacity(members.len());
    for (key, value) in members {
        let raw = value.get();
        match key {
            "seq" => seq = Some(raw.parse::<u64>().ok().filter(|s| *s >= 1)?),
            "format" => format = Some(raw.parse::<u64>().ok()?),
            "prev" => prev = Some(Hash::parse(plain(raw)?).ok()?),
            "recorded_at" => recorded_at = Some(Timestamp::parse(plain(raw)?).ok()?),
            "actor" => actor = Some(Id::parse(plain(raw)?).ok()?),
            "type" => type_name = Some(plain(raw)?),
            "effective" => effective = Some(Date::parse(plain(raw)?).ok()?),
            "decision" => decision = Some(Decision::deserialize(value).ok()?),
            _ => {
                // A list of more than MAX_LIST_ITEMS items takes more than twice as many
                // bytes; a shorter one cannot be too long. A null is refused, with its reason,
                // by the long reading.
                if raw == "null" || (raw.starts_with('[') && raw.len() > 2 * MAX_LIST_ITEMS) {
                    return None;
                }
                fields.push((key, value));
            }
        }
    }
    if format? != FORMAT_VERSION {
        return None;
    }
    let name = type_name?;
    if !EVENT_TYPES.contains(&name) {
        return None;
    }
    let event = Event::deserialize(Variant { name, fields }).ok()?;
    Some(Read {
        seq: seq?,
        prev: prev?,
        recorded_at: recorded_at?,
        actor: actor?,
        submission: Submission {
            effective: effective?,
            decision,
            event,
        },
    })
}

/// The text of a JSON string with no escape in it; `None` for anything else.
fn plain(raw: &str) -> Option<&str> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\')).then_some(inner)
}

/// The members of a JSON object, in their order, each value unparsed. A key with an escape
/// cannot be borrowed and fails the reading.
struct Members<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a record object")
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(12));
                while let Some(member) = map.next_entry::<&'de str, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Object)
    }
}

/// An externally tagged enum value given as its variant's name and the fields of its
/// payload: what `Event`'s `Deserialize` reads from `{"<name>":{<fields>}}`, without that
/// object being written.
struct Variant<'a> {
    name: &'a str,
    fields: Vec<(&'a str, &'a RawValue)>,
}

impl<'de> Deserializer<'de> for Variant<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'de> de::EnumAccess<'de> for Variant<'de> {
    type Error = serde_json::Error;
    type Variant = Payload<'de>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Payload<'de>), Self::Error> {
        let variant = seed.deserialize(BorrowedStrDeserializer::new(self.name))?;
        Ok((variant, Payload(self.fields)))
    }
}

/// The fields of a variant's payload.
struct Payload<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de> de::VariantAccess<'de> for Payload<'de> {
    type Error = serde_json::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        Err(de::Error::custom("every event carries fields"))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Self::Error> {
        // The map deserializer also refuses members left unread (it checks at its end).
        seed.deserialize(de::value::MapDeserializer::<_, serde_json::Error>::new(
            self.0.into_iter(),
        ))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("no event is a tuple"))
    }

    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("every event is a newtype variant"))
    }
}
