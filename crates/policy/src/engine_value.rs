//! A `serde` serializer into the engine's own value type: the plan becomes the policies' input
//! without being printed as JSON and parsed back, which was most of what judging a plan cost
//! (`docs/benchmarks.md`, "policy"). It writes what `serde_json` would print: structs and maps
//! as objects (keys as text), sequences and tuples as arrays, `None` and units as `null`,
//! enums externally tagged; a non-finite float as `null`. The input module's tests hold the
//! result equal to the engine's reading of the printed JSON.

use std::collections::BTreeMap;
use std::fmt::Display;

use regorus::Value;
use serde::ser::{self, Serialize};

/// Why a value could not be converted (a map key that is not text, a number, a bool or a char,
/// as `serde_json` refuses too).
#[derive(Debug)]
pub(crate) struct Error(String);

impl Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// `value` as the engine's value.
pub(crate) fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, Error> {
    value.serialize(Serializer)
}

struct Serializer;

std::thread_local! {
    /// The engine's value of each struct field name seen on this thread, by the name's address:
    /// a plan has a few dozen field names and thousands of fields, and a shared name costs a
    /// reference count where a new one costs an allocation (and its freeing, when the input is
    /// dropped). Bounded by the field names of the program's types.
    static FIELD_NAMES: std::cell::RefCell<std::collections::HashMap<(usize, usize), Value>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The engine's value of a field name (`&'static`: its address names it for the program's life).
fn field_name(name: &'static str) -> Value {
    FIELD_NAMES.with(|names| {
        names
            .borrow_mut()
            .entry((name.as_ptr() as usize, name.len()))
            .or_insert_with(|| Value::from(name))
            .clone()
    })
}

fn object(entries: BTreeMap<Value, Value>) -> Value {
    if entries.is_empty() {
        Value::new_object()
    } else {
        Value::from(entries)
    }
}

fn tagged(variant: &'static str, value: Value) -> Value {
    let mut entries = BTreeMap::new();
    entries.insert(Value::from(variant), value);
    object(entries)
}

impl ser::Serializer for Serializer {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = Seq;
    type SerializeTuple = Seq;
    type SerializeTupleStruct = Seq;
    type SerializeTupleVariant = Seq;
    type SerializeMap = Map;
    type SerializeStruct = Map;
    type SerializeStructVariant = Map;

    fn serialize_bool(self, v: bool) -> Result<Value, Error> {
        Ok(Value::from(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, Error> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, Error> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, Error> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, Error> {
        Ok(Value::from(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, Error> {
        Ok(Value::from(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, Error> {
        Ok(Value::from(u64::from(v)))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, Error> {
        Ok(Value::from(u64::from(v)))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, Error> {
        Ok(Value::from(u64::from(v)))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, Error> {
        Ok(Value::from(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, Error> {
        Ok(Value::from(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, Error> {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, Error> {
        Ok(if v.is_finite() { Value::from(v) } else { Value::Null })
    }
    fn serialize_char(self, v: char) -> Result<Value, Error> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, Error> {
        Ok(Value::from(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, Error> {
        Ok(Value::from(
            v.iter().map(|b| Value::from(u64::from(*b))).collect::<Vec<_>>(),
        ))
    }
    fn serialize_none(self) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<Value, Error> {
        Ok(Value::from(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _name: &'static str, value: &T) -> Result<Value, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, Error> {
        Ok(tagged(variant, value.serialize(Serializer)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq, Error> {
        Ok(Seq {
            items: Vec::with_capacity(len.unwrap_or(0)),
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Seq, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Seq, Error> {
        Ok(Seq {
            items: Vec::with_capacity(len),
            variant: Some(variant),
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Map, Error> {
        Ok(Map::default())
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Map, Error> {
        Ok(Map::default())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Map, Error> {
        Ok(Map {
            variant: Some(variant),
            ..Map::default()
        })
    }
}

struct Seq {
    items: Vec<Value>,
    variant: Option<&'static str>,
}

impl Seq {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.items.push(value.serialize(Serializer)?);
        Ok(())
    }
    fn done(self) -> Value {
        let array = Value::from(self.items);
        match self.variant {
            Some(variant) => tagged(variant, array),
            None => array,
        }
    }
}

impl ser::SerializeSeq for Seq {
    type Ok = Value;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.done())
    }
}

impl ser::SerializeTuple for Seq {
    type Ok = Value;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.done())
    }
}

impl ser::SerializeTupleStruct for Seq {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.done())
    }
}

impl ser::SerializeTupleVariant for Seq {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.push(value)
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.done())
    }
}

#[derive(Default)]
struct Map {
    entries: BTreeMap<Value, Value>,
    key: Option<Value>,
    variant: Option<&'static str>,
}

impl Map {
    fn done(self) -> Value {
        let value = object(self.entries);
        match self.variant {
            Some(variant) => tagged(variant, value),
            None => value,
        }
    }
}

impl ser::SerializeMap for Map {
    type Ok = Value;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        // JSON keys are text: `serde_json` prints a number, a bool or a char key as text too.
        let key = match key.serialize(Serializer)? {
            key @ Value::String(_) => key,
            key @ (Value::Number(_) | Value::Bool(_)) => Value::from(key.to_string()),
            _ => return Err(Error("a map key that is not text".into())),
        };
        self.key = Some(key);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Error("a map value without its key".into()))?;
        self.entries.insert(key, value.serialize(Serializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.done())
    }
}

impl ser::SerializeStruct for Map {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.entries.insert(field_name(key), value.serialize(Serializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.done())
    }
}

impl ser::SerializeStructVariant for Map {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        self.entries.insert(field_name(key), value.serialize(Serializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(self.done())
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    enum E {
        Unit,
        New(u8),
        Tuple(u8, &'static str),
        Struct { a: Option<i32> },
    }

    #[derive(Serialize)]
    struct S {
        e: Vec<E>,
        keys: BTreeMap<u32, bool>,
        f: f64,
        nan: f64,
        c: char,
        unit: (),
        nested: Option<Box<S>>,
    }

    /// Every shape converts to what the engine reads from `serde_json`'s print of it.
    #[test]
    fn the_same_value_as_the_printed_json() {
        let s = S {
            e: vec![
                E::Unit,
                E::New(7),
                E::Tuple(1, "x"),
                E::Struct { a: None },
                E::Struct { a: Some(-3) },
            ],
            keys: [(10, true), (2, false)].into_iter().collect(),
            f: 1.5,
            nan: f64::NAN,
            c: 'é',
            unit: (),
            nested: Some(Box::new(S {
                e: vec![],
                keys: BTreeMap::new(),
                f: 0.0,
                nan: 2.0,
                c: 'a',
                unit: (),
                nested: None,
            })),
        };
        let printed = serde_json::to_string(&s).unwrap();
        let want = regorus::Value::from_json_str(&printed).unwrap();
        assert_eq!(super::to_value(&s).unwrap(), want, "{printed}");
    }
}
