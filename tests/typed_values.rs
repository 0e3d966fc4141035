//! Typed values keep their type: reading as another type is an error, never a conversion;
//! serde values round-trip.

use stratakv::{Bytes, Db, Value};

#[test]
fn typed_values_roundtrip_and_refuse_the_wrong_type() {
    let db = Db::open_temp().unwrap();
    db.put_value(b"n", &Value::I64(-7)).unwrap();
    db.put_value(b"f", &Value::F64(2.5)).unwrap();
    db.put_value(b"b", &Value::Bool(true)).unwrap();
    db.put_value(b"s", &Value::from("text")).unwrap();
    db.put_value(b"raw", &Value::Bytes(Bytes::from_static(b"\x00\x01")))
        .unwrap();
    assert_eq!(db.get_value(b"n").unwrap(), Some(Value::I64(-7)));
    assert_eq!(db.get_as::<f64>(b"f").unwrap(), Some(2.5));
    assert_eq!(db.get_as::<bool>(b"b").unwrap(), Some(true));
    assert_eq!(db.get_as::<String>(b"s").unwrap().as_deref(), Some("text"));
    assert_eq!(db.get_as::<i64>(b"missing").unwrap(), None);
    let e = db.get_as::<i64>(b"f").unwrap_err();
    assert!(
        e.is_invalid_argument() && e.to_string().contains("F64"),
        "{e}"
    );
    assert!(db.get_as::<String>(b"raw").is_err());
    db.put(b"plain", b"untyped").unwrap();
    assert!(db.get_value(b"plain").unwrap_err().is_invalid_argument());
    db.flush().unwrap();
    assert_eq!(
        db.get_value(b"n").unwrap(),
        Some(Value::I64(-7)),
        "from a table"
    );
}

#[test]
fn serde_values_roundtrip() {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct User {
        name: String,
        age: u32,
    }
    let db = Db::open_temp().unwrap();
    let u = User {
        name: "ada".into(),
        age: 36,
    };
    db.put_serde(b"user:1", &u).unwrap();
    assert_eq!(db.get_serde::<User>(b"user:1").unwrap(), Some(u));
    assert!(db.get_value(b"user:1").unwrap_err().is_invalid_argument());
    db.put_value(b"n", &Value::I64(1)).unwrap();
    assert!(db
        .get_serde::<User>(b"n")
        .unwrap_err()
        .is_invalid_argument());
}
