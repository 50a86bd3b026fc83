//! Canonical bytes written straight from typed values (a serde `Serializer`), without the
//! `serde_json::Value` tree that [`super::canonical::to_canonical`] walks: the same bytes
//! (keys sorted by their UTF-8 bytes at every level, no whitespace, integers only, the
//! minimal escapes), at a fraction of the allocations. Sealing a record and proving an
//! export line canonical both write a record's bytes this way.
//!
//! An object's members are written into one scratch buffer as they come and put in key order
//! at its end (the catalogue has no maps: every object is a struct, and a map is refused); what serde would write as `null` (a `None` not skipped, a unit) is written as
//! `null`, as `serde_json::to_value` would make it.

use std::fmt::{self, Write as _};

use serde::ser::{self, Impossible, Serialize};

use super::canonical::{write_escaped, write_string};

/// Why a value has no canonical bytes: a float, bytes, or a map keyed by other than text.
#[derive(Debug)]
pub struct Unwritable(String);

impl fmt::Display for Unwritable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unwritable {}

impl ser::Error for Unwritable {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Unwritable(msg.to_string())
    }
}

/// Members of an object written before its own: the record's envelope, given to the
/// event's struct so that the two make one object. Their values' canonical bytes lie side
/// by side in one buffer (one allocation for the envelope, not one per member).
#[derive(Default)]
pub struct Members<'a> {
    keys: Vec<(&'a str, usize, usize)>,
    bytes: Vec<u8>,
}

impl<'a> Members<'a> {
    /// Room for `members` members of `bytes` bytes in all.
    pub fn with_capacity(members: usize, bytes: usize) -> Self {
        Members {
            keys: Vec::with_capacity(members),
            bytes: Vec::with_capacity(bytes),
        }
    }

    /// Adds the member `key`, whose value `write` puts in canonical form.
    pub fn push(&mut self, key: &'a str, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        write(&mut self.bytes);
        self.keys.push((key, start, self.bytes.len()));
    }
}

/// Writes the text of `value` as a JSON string, without building the text first.
pub fn write_display_string(out: &mut Vec<u8>, value: &(impl fmt::Display + ?Sized)) -> fmt::Result {
    struct Escaping<'a>(&'a mut Vec<u8>);
    impl fmt::Write for Escaping<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            write_escaped(self.0, s);
            Ok(())
        }
    }
    out.push(b'"');
    write!(Escaping(out), "{value}")?;
    out.push(b'"');
    Ok(())
}

/// Writes `value` in canonical form onto `out`.
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), Unwritable> {
    value.serialize(Canonical { out, extra: None })
}

/// Writes the fields of `inner`, the payload of an externally tagged newtype variant (an
/// `Event`), merged with `members` into one object: `{"type":<variant>}` is not added; the
/// caller gives every member it wants beside the fields.
pub fn write_variant_fields<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
    members: Members<'_>,
) -> Result<(), Unwritable> {
    value.serialize(VariantFields { out, members })
}

struct Canonical<'o, 'm> {
    out: &'o mut Vec<u8>,
    /// Members to merge into the next struct written (only ever the top one).
    extra: Option<Members<'m>>,
}

/// An object being written: its members' keys and where their bytes lie in `scratch`.
struct Object<'o, 'm> {
    out: &'o mut Vec<u8>,
    extra: Members<'m>,
    keys: Vec<(Key, usize, usize)>,
    scratch: Vec<u8>,
}

enum Key {
    Static(&'static str),
    Extra(usize),
}

/// The key lists and scratch buffers of objects written before on this thread, empty, for
/// the next objects: a record has one to three objects, and allocating two buffers for each
/// was a sixth of sealing one.
type Spare = Vec<(Vec<(Key, usize, usize)>, Vec<u8>)>;

thread_local! {
    static SPARE: std::cell::RefCell<Spare> = const { std::cell::RefCell::new(Vec::new()) };
}

impl<'o, 'm> Object<'o, 'm> {
    fn new(out: &'o mut Vec<u8>, extra: Members<'m>, len: usize) -> Self {
        let (keys, scratch) = SPARE
            .with_borrow_mut(|spare| spare.pop())
            .unwrap_or_else(|| (Vec::with_capacity(len), Vec::with_capacity(64 * len.max(1))));
        Object {
            out,
            extra,
            keys,
            scratch,
        }
    }

    fn member<T: Serialize + ?Sized>(&mut self, key: Key, value: &T) -> Result<(), Unwritable> {
        let start = self.scratch.len();
        value.serialize(Canonical {
            out: &mut self.scratch,
            extra: None,
        })?;
        self.keys.push((key, start, self.scratch.len()));
        Ok(())
    }

    fn finish(mut self) -> Result<(), Unwritable> {
        for i in 0..self.extra.keys.len() {
            self.keys.push((Key::Extra(i), 0, 0));
        }
        let extra = &self.extra;
        let name = |k: &Key| -> &[u8] {
            match k {
                Key::Static(s) => s.as_bytes(),
                Key::Extra(i) => extra.keys[*i].0.as_bytes(),
            }
        };
        self.keys.sort_unstable_by(|a, b| name(&a.0).cmp(name(&b.0)));
        let out = self.out;
        out.push(b'{');
        for (i, (key, start, end)) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_string(out, std::str::from_utf8(name(key)).expect("keys are text"));
            out.push(b':');
            match key {
                Key::Extra(j) => {
                    let (_, start, end) = extra.keys[*j];
                    out.extend_from_slice(&extra.bytes[start..end]);
                }
                _ => out.extend_from_slice(&self.scratch[*start..*end]),
            }
        }
        out.push(b'}');
        let (mut keys, mut scratch) = (self.keys, self.scratch);
        // A buffer grown by an unusually long value is not kept.
        if scratch.capacity() <= 64 << 10 {
            keys.clear();
            scratch.clear();
            SPARE.with_borrow_mut(|spare| spare.push((keys, scratch)));
        }
        Ok(())
    }
}

/// A list being written.
struct List<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl List<'_> {
    fn item<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unwritable> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write(self.out, value)
    }
    fn finish(self) -> Result<(), Unwritable> {
        self.out.push(b']');
        Ok(())
    }
}

fn unwritable<T>(what: &str) -> Result<T, Unwritable> {
    Err(Unwritable(format!("{what} has no canonical form")))
}

macro_rules! integers {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method(self, v: $ty) -> Result<(), Unwritable> {
            let mut buf = itoa::Buffer::new();
            self.out.extend_from_slice(buf.format(v).as_bytes());
            Ok(())
        }
    )*};
}

impl<'o, 'm> ser::Serializer for Canonical<'o, 'm> {
    type Ok = ();
    type Error = Unwritable;
    type SerializeSeq = List<'o>;
    type SerializeTuple = List<'o>;
    type SerializeTupleStruct = List<'o>;
    type SerializeTupleVariant = Impossible<(), Unwritable>;
    type SerializeMap = Impossible<(), Unwritable>;
    type SerializeStruct = Object<'o, 'm>;
    type SerializeStructVariant = Impossible<(), Unwritable>;

    fn serialize_bool(self, v: bool) -> Result<(), Unwritable> {
        self.out.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    integers!(serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64);
    fn serialize_f32(self, v: f32) -> Result<(), Unwritable> {
        Err(Unwritable(format!(
            "numbers must be integers (found {v}); the format carries no floats"
        )))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Unwritable> {
        Err(Unwritable(format!(
            "numbers must be integers (found {v}); the format carries no floats"
        )))
    }
    fn serialize_char(self, v: char) -> Result<(), Unwritable> {
        write_string(self.out, v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Unwritable> {
        write_string(self.out, v);
        Ok(())
    }
    fn collect_str<T: fmt::Display + ?Sized>(self, value: &T) -> Result<(), Unwritable> {
        write_display_string(self.out, value).map_err(|_| Unwritable("a value failed to format".into()))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<(), Unwritable> {
        unwritable("bytes")
    }
    fn serialize_none(self) -> Result<(), Unwritable> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unwritable> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Unwritable> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Unwritable> {
        self.serialize_none()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Unwritable> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), Unwritable> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Unwritable> {
        let mut object = Object::new(self.out, Members::default(), 1);
        object.member(Key::Static(variant), value)?;
        object.finish()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<List<'o>, Unwritable> {
        self.out.push(b'[');
        Ok(List {
            out: self.out,
            first: true,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<List<'o>, Unwritable> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<List<'o>, Unwritable> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unwritable> {
        unwritable("a tuple variant")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unwritable> {
        // No type of the catalogue holds a map; an object is always a struct.
        unwritable("a map")
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Object<'o, 'm>, Unwritable> {
        Ok(Object::new(self.out, self.extra.unwrap_or_default(), len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unwritable> {
        unwritable("a struct variant")
    }
}

/// A list, a tuple and a tuple struct are all written as a JSON array.
macro_rules! array_of_items {
    ($($kind:ident::$method:ident),*) => {$(
        impl ser::$kind for List<'_> {
            type Ok = ();
            type Error = Unwritable;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unwritable> {
                self.item(value)
            }
            fn end(self) -> Result<(), Unwritable> {
                self.finish()
            }
        }
    )*};
}

array_of_items!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

impl ser::SerializeStruct for Object<'_, '_> {
    type Ok = ();
    type Error = Unwritable;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Unwritable> {
        self.member(Key::Static(key), value)
    }
    fn end(self) -> Result<(), Unwritable> {
        self.finish()
    }
}

/// The payload of an externally tagged newtype variant, written as its fields alone, merged
/// with members given beside them.
struct VariantFields<'o, 'm> {
    out: &'o mut Vec<u8>,
    members: Members<'m>,
}

macro_rules! not_a_variant {
    ($($method:ident($($arg:ty),*)),*) => {$(
        fn $method(self, $(_: $arg),*) -> Result<(), Unwritable> {
            unwritable("a value other than a newtype variant")
        }
    )*};
}

impl<'o, 'm> ser::Serializer for VariantFields<'o, 'm> {
    type Ok = ();
    type Error = Unwritable;
    type SerializeSeq = Impossible<(), Unwritable>;
    type SerializeTuple = Impossible<(), Unwritable>;
    type SerializeTupleStruct = Impossible<(), Unwritable>;
    type SerializeTupleVariant = Impossible<(), Unwritable>;
    type SerializeMap = Impossible<(), Unwritable>;
    type SerializeStruct = Impossible<(), Unwritable>;
    type SerializeStructVariant = Impossible<(), Unwritable>;

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Unwritable> {
        value.serialize(Canonical {
            out: self.out,
            extra: Some(self.members),
        })
    }

    not_a_variant!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str)
    );

    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Unwritable> {
        unwritable("a value other than a newtype variant")
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, _: &T) -> Result<(), Unwritable> {
        unwritable("a value other than a newtype variant")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Unwritable> {
        unwritable("a list")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unwritable> {
        unwritable("a tuple")
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, Unwritable> {
        unwritable("a tuple")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unwritable> {
        unwritable("a tuple variant")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unwritable> {
        unwritable("a map")
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, Unwritable> {
        unwritable("a struct")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unwritable> {
        unwritable("a struct variant")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    fn written<T: Serialize>(value: &T) -> Result<String, Unwritable> {
        let mut out = Vec::new();
        write(&mut out, value)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[derive(Serialize)]
    struct Inner {
        zeta: Option<u8>,
        #[serde(skip_serializing_if = "Option::is_none")]
        gone: Option<u8>,
        alpha: Vec<i64>,
    }

    #[derive(Serialize)]
    struct Outer {
        é: &'static str,
        b: Inner,
        a: bool,
        #[serde(rename = "Z")]
        upper: (),
    }

    #[test]
    fn sorts_members_by_their_bytes_at_every_level() {
        let value = Outer {
            é: "\"q\" \\ \u{1} é",
            b: Inner {
                zeta: None,
                gone: None,
                alpha: vec![-3, 0, u32::MAX as i64],
            },
            a: true,
            upper: (),
        };
        assert_eq!(
            written(&value).unwrap(),
            r#"{"Z":null,"a":true,"b":{"alpha":[-3,0,4294967295],"zeta":null},"é":"\"q\" \\ \u0001 é"}"#
        );
    }

    #[test]
    fn writes_tuples_as_arrays() {
        #[derive(Serialize)]
        struct Pair(u8, &'static str);
        assert_eq!(written(&(1u8, "x")).unwrap(), r#"[1,"x"]"#);
        assert_eq!(written(&Pair(2, "y")).unwrap(), r#"[2,"y"]"#);
    }

    #[test]
    fn refuses_what_has_no_canonical_form() {
        assert!(written(&1.5f64).unwrap_err().to_string().contains("integers"));
        let map: std::collections::BTreeMap<&str, u8> = [("a", 1)].into();
        assert!(written(&map).unwrap_err().to_string().contains("a map"));
        assert!(written(&serde_bytes_like()).is_err());
    }

    fn serde_bytes_like() -> impl Serialize {
        struct Bytes;
        impl Serialize for Bytes {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(b"ab")
            }
        }
        Bytes
    }

    #[test]
    fn merges_members_into_a_variants_fields() {
        #[derive(Serialize)]
        enum Tagged {
            Named { _never: u8 },
            Payload(Inner),
        }
        let _ = Tagged::Named { _never: 0 };
        let mut out = Vec::new();
        let mut members = Members::default();
        members.push("type", |out| out.extend_from_slice(b"\"Payload\""));
        members.push("beta", |out| out.extend_from_slice(b"2"));
        let payload = Tagged::Payload(Inner {
            zeta: Some(9),
            gone: Some(1),
            alpha: vec![],
        });
        write_variant_fields(&mut out, &payload, members).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"alpha":[],"beta":2,"gone":1,"type":"Payload","zeta":9}"#
        );
        let mut out = Vec::new();
        assert!(write_variant_fields(&mut out, &Tagged::Named { _never: 1 }, Members::default()).is_err());
    }
}
