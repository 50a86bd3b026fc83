//! A record's canonical bytes read straight into typed values, without the
//! `serde_json::Value` tree, in one pass: the event's type is found first, then the top-level
//! object's members are read in order, the envelope's by hand and the rest handed, as they
//! come, to the event's own `Deserialize` as the payload of its variant.
//!
//! This is the short way for the bytes a valid record has; it gives up (`None`) on anything
//! else (an escape in an envelope string, a `null` field, a list of too many items, a field
//! the event does not have), and the caller then reads the bytes the long way, through
//! `serde_json::Value`, which says what is wrong. So this reading never accepts what the long
//! one refuses, and never has to explain a refusal.

use serde::de::{self, value::BorrowedStrDeserializer, DeserializeSeed, Deserializer, Visitor};
use serde::Deserialize;

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
    read_from(serde_json::Deserializer::from_slice(bytes), bytes)
}

/// [`read`] of bytes already known to be UTF-8 (an export line, checked as it was read),
/// which are then not checked again string by string.
pub fn read_str(text: &str) -> Option<Read> {
    read_from(serde_json::Deserializer::from_str(text), text.as_bytes())
}

/// Reads the record in one pass: the event's type is found first (the event's fields are
/// read by its variant's own `Deserialize`, which has to be chosen before them, and `type`
/// sorts after most of them), then the object's members are read in order, the envelope's
/// by hand and the others handed to the variant as they come. Reading the members into raw
/// values first and each value again from there cost a third of a record's reading.
fn read_from<'de, R: serde_json::de::Read<'de>>(mut de: serde_json::Deserializer<R>, bytes: &[u8]) -> Option<Read> {
    let name = type_named(bytes)?;
    let (event, envelope) = de::Deserializer::deserialize_map(&mut de, Record { name }).ok()?;
    de.end().ok()?;
    // The first `"type":"` found is the object's own, unless it stood in a value: then the
    // object's own names another type (or none), and the reading gives up.
    if envelope.type_name? != name || envelope.format? != FORMAT_VERSION {
        return None;
    }
    Some(Read {
        seq: envelope.seq?,
        prev: Hash::parse(envelope.prev?).ok()?,
        recorded_at: Timestamp::parse(envelope.recorded_at?).ok()?,
        actor: Id::parse(envelope.actor?).ok()?,
        submission: Submission {
            effective: Date::parse(envelope.effective?).ok()?,
            decision: envelope.decision,
            event,
        },
    })
}

/// The event type a record's bytes name: the text after the first `"type":"`, if it is one
/// of the catalogue's names. (Inside a string a quote is escaped, so those bytes can only
/// be a key and the start of its value.)
fn type_named(bytes: &[u8]) -> Option<&'static str> {
    static TYPE_MEMBER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"type\":\""));
    let at = TYPE_MEMBER.find(bytes)? + b"\"type\":\"".len();
    let len = memchr::memchr(b'"', &bytes[at..])?;
    let text = &bytes[at..at + len];
    EVENT_TYPES.iter().copied().find(|name| name.as_bytes() == text)
}

/// The envelope's members as they are read: texts borrowed (one with an escape fails the
/// reading), parsed at the end.
#[derive(Default)]
struct Envelope<'a> {
    seq: Option<u64>,
    format: Option<u64>,
    prev: Option<&'a str>,
    recorded_at: Option<&'a str>,
    actor: Option<&'a str>,
    type_name: Option<&'a str>,
    effective: Option<&'a str>,
    decision: Option<Decision>,
}

/// The record object, read as the event `name` with the envelope's members set aside.
struct Record {
    name: &'static str,
}

impl<'de> Visitor<'de> for Record {
    type Value = (Event, Envelope<'de>);

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a record object")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let mut envelope = Envelope::default();
        let event = Event::deserialize(Variant {
            name: self.name,
            fields: Fields {
                map,
                envelope: &mut envelope,
            },
        })?;
        Ok((event, envelope))
    }
}

/// The members of the record object other than the envelope's: the fields of its event.
/// The envelope's are read into `envelope` as they go by. A field's value is read through
/// [`TopLevel`].
struct Fields<'e, 'de, A> {
    map: A,
    envelope: &'e mut Envelope<'de>,
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Fields<'_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        let e = &mut *self.envelope;
        loop {
            let Some(key) = self.map.next_key::<&'de str>()? else {
                return Ok(None);
            };
            match key {
                // A `seq` below 1 is not taken: the long reading says why.
                "seq" => match self.map.next_value::<u64>()? {
                    0 => return Err(de::Error::custom("seq 0")),
                    seq => e.seq = Some(seq),
                },
                "format" => e.format = Some(self.map.next_value()?),
                "prev" => e.prev = Some(self.map.next_value()?),
                "recorded_at" => e.recorded_at = Some(self.map.next_value()?),
                "actor" => e.actor = Some(self.map.next_value()?),
                "type" => e.type_name = Some(self.map.next_value()?),
                "effective" => e.effective = Some(self.map.next_value()?),
                "decision" => e.decision = Some(self.map.next_value()?),
                _ => return seed.deserialize(BorrowedStrDeserializer::new(key)).map(Some),
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(TopLevel(seed))
    }
}

/// The event's variant `name`, its payload the record's other members: what `Event`'s
/// `Deserialize` reads from `{"<name>":{<fields>}}`, without that object being written.
struct Variant<'e, 'de, A> {
    name: &'static str,
    fields: Fields<'e, 'de, A>,
}

impl<'de, A: de::MapAccess<'de>> Deserializer<'de> for Variant<'_, 'de, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

impl<'e, 'de, A: de::MapAccess<'de>> de::EnumAccess<'de> for Variant<'e, 'de, A> {
    type Error = A::Error;
    type Variant = Payload<'e, 'de, A>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self::Variant), Self::Error> {
        let variant = seed.deserialize(BorrowedStrDeserializer::new(self.name))?;
        Ok((variant, Payload(self.fields)))
    }
}

/// The fields of a variant's payload.
struct Payload<'e, 'de, A>(Fields<'e, 'de, A>);

impl<'de, A: de::MapAccess<'de>> de::VariantAccess<'de> for Payload<'_, 'de, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        Err(de::Error::custom("every event carries fields"))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Self::Error> {
        // The payload's own `Deserialize` refuses a field it does not have, and reads the
        // members to the end.
        seed.deserialize(de::value::MapAccessDeserializer::new(self.0))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("no event is a tuple"))
    }

    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("every event is a newtype variant"))
    }
}

/// An event field's value, refused where the long reading refuses it whatever the field:
/// a `null`, and a list of more than [`MAX_LIST_ITEMS`] items.
struct TopLevel<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for TopLevel<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Checked(d))
    }
}

/// A deserializer of a field's value that refuses a `null` and counts a list's items.
struct Checked<D>(D);

macro_rules! forward_checked {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method($($arg,)* visitor)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Checked<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(NotNull(visitor))
    }
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_option(NotNull(visitor))
    }
    fn deserialize_unit<V: Visitor<'de>>(self, _: V) -> Result<V::Value, D::Error> {
        Err(de::Error::custom("a field is never null"))
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, _: V) -> Result<V::Value, D::Error> {
        Err(de::Error::custom("a field is never null"))
    }
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_seq(Counted(visitor))
    }
    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }

    forward_checked!(
        deserialize_bool(), deserialize_i8(), deserialize_i16(), deserialize_i32(), deserialize_i64(),
        deserialize_i128(), deserialize_u8(), deserialize_u16(), deserialize_u32(), deserialize_u64(),
        deserialize_u128(), deserialize_f32(), deserialize_f64(), deserialize_char(), deserialize_str(),
        deserialize_string(), deserialize_bytes(), deserialize_byte_buf(),
        deserialize_newtype_struct(name: &'static str),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_map(),
        deserialize_struct(name: &'static str, fields: &'static [&'static str]),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
        deserialize_identifier(),
        deserialize_ignored_any(),
    );
}

macro_rules! forward_visits {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.0.$method(v)
        }
    )*};
}

/// A visitor that takes what `V` takes but a `null`; a value inside an option is checked
/// as the field's own.
struct NotNull<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for NotNull<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.expecting(f)
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        Err(E::custom("a field is never null"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        Err(E::custom("a field is never null"))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Checked(d))
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(d)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        Counted(self.0).visit_seq(seq)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(map)
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(data)
    }
    forward_visits!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );
}

/// A visitor of a list that refuses one of more than [`MAX_LIST_ITEMS`] items.
struct Counted<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for Counted<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.expecting(f)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Items {
            seq,
            left: MAX_LIST_ITEMS,
        })
    }
}

/// A list's items, at most `left` more of them.
struct Items<A> {
    seq: A,
    left: usize,
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Items<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        let item = self.seq.next_element_seed(seed)?;
        if item.is_some() {
            self.left = self
                .left
                .checked_sub(1)
                .ok_or_else(|| de::Error::custom("a list too long"))?;
        }
        Ok(item)
    }
}
