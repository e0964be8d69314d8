//! Property tests of the `Key` laws for every encoder: round trip, byte order
//! equals `Ord` order (for ordered encodings), fixed width when declared, and
//! decoding arbitrary bytes never panics.

use laminar_core::state::key::{Dict, DictCode, DictionaryKeyEncoder, Key, KeyRepr};
use proptest::prelude::*;

fn laws<'a, K>(a: K::Ref<'a>, b: K::Ref<'a>) -> Result<(), TestCaseError>
where
    K: Key,
    K::Ref<'a>: Ord,
{
    prop_assert!(K::ORDERED);
    let mut d = K::Dicts::default();
    let ra = K::find(a, &d).ok_or_else(|| TestCaseError::fail("find"))?;
    let rb = K::intern(b, &mut d).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    K::encode(&ra, &mut ea);
    K::encode(&rb, &mut eb);
    // Round trip, consuming exactly the encoding (trailing bytes are left).
    let mut with_tail = ea.clone();
    with_tail.extend_from_slice(&[0x00, 0xFF, 0x7F]);
    let mut input = &with_tail[..];
    let back = K::decode(&mut input).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&back, &ra);
    prop_assert_eq!(input, &[0x00, 0xFF, 0x7F][..]);
    let resolved = K::resolve(&ra, &d).ok_or_else(|| TestCaseError::fail("resolve"))?;
    prop_assert_eq!(K::find(resolved, &d), Some(ra.clone()));
    // Width.
    if let Some(w) = K::WIDTH {
        prop_assert_eq!(ea.len(), w);
        prop_assert_eq!(eb.len(), w);
    }
    // Order: keys, representations and bytes agree.
    prop_assert_eq!(a.cmp(&b), ra.cmp(&rb));
    prop_assert_eq!(a.cmp(&b), ea.cmp(&eb));
    word_laws(&ra, &rb)
}

/// `KeyRepr::to_words`: injective when `WORDS` is 1 or 2, zero past `WORDS`;
/// a `DENSE` first word is below 2^32.
fn word_laws<R: KeyRepr>(a: &R, b: &R) -> Result<(), TestCaseError> {
    prop_assert!(R::WORDS <= 2);
    prop_assert!(!R::DENSE || R::WORDS >= 1);
    for r in [a, b] {
        let words = r.to_words();
        prop_assert!(
            words.iter().skip(R::WORDS).all(|&w| w == 0),
            "{:?}: {:?}",
            r,
            words
        );
        prop_assert!(!R::DENSE || words[0] <= u64::from(u32::MAX));
    }
    if R::WORDS > 0 {
        prop_assert_eq!(a == b, a.to_words() == b.to_words(), "{:?} and {:?}", a, b);
    }
    Ok(())
}

fn no_panic<K: Key>(bytes: &[u8]) {
    let mut input = bytes;
    let _ = K::decode(&mut input);
}

macro_rules! int_laws {
    ($($name:ident: $t:ty),*) => {$(
        proptest! {
            #[test]
            fn $name(a: $t, b: $t, bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
                laws::<$t>(a, b)?;
                laws::<$t>(a, a)?;
                laws::<$t>(<$t>::MIN, <$t>::MAX)?;
                no_panic::<$t>(&bytes);
            }
        }
    )*};
}
int_laws!(
    u8_laws: u8, u16_laws: u16, u32_laws: u32, u64_laws: u64, u128_laws: u128,
    i8_laws: i8, i16_laws: i16, i32_laws: i32, i64_laws: i64, i128_laws: i128
);

proptest! {
    #[test]
    fn bool_char_array_laws(a: bool, b: bool, c: char, d: char, x: [u8; 5], y: [u8; 5],
                            bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        laws::<bool>(a, b)?;
        laws::<char>(c, d)?;
        laws::<[u8; 5]>(x, y)?;
        // Two-word and word-less arrays, differing in their first bytes or
        // only in the last one.
        let (mut p, mut q) = ([0u8; 16], [0u8; 16]);
        p[..5].copy_from_slice(&x);
        q[..5].copy_from_slice(&y);
        q[15] = y[0];
        laws::<[u8; 16]>(p, q)?;
        let (mut p12, mut q12) = ([1u8; 12], [1u8; 12]);
        p12[11] = x[0];
        q12[11] = y[0];
        laws::<[u8; 12]>(p12, q12)?;
        let (mut r, mut t) = ([7u8; 17], [7u8; 17]);
        r[16] = x[0];
        t[16] = y[0];
        laws::<[u8; 17]>(r, t)?;
        no_panic::<bool>(&bytes);
        no_panic::<char>(&bytes);
        no_panic::<[u8; 5]>(&bytes);
    }

    #[test]
    fn string_and_bytes_laws(a in "[a\\x00\\u{ff}é]{0,6}", b in "[a\\x00\\u{ff}é]{0,6}",
                             x in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xFF), any::<u8>()], 0..8),
                             y in proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xFF), any::<u8>()], 0..8),
                             bytes in proptest::collection::vec(prop_oneof![Just(0u8), Just(0xFF), any::<u8>()], 0..40)) {
        laws::<String>(&a, &b)?;
        laws::<Vec<u8>>(&x, &y)?;
        no_panic::<String>(&bytes);
        no_panic::<Vec<u8>>(&bytes);
    }

    #[test]
    fn tuple_laws(s1 in "[a\\x00b]{0,4}", s2 in "[a\\x00b]{0,4}", i1 in -3i64..3, i2 in -3i64..3,
                  u1: u8, u2: u8, c1: bool, c2: bool,
                  bytes in proptest::collection::vec(prop_oneof![Just(0u8), Just(0xFF), any::<u8>()], 0..40)) {
        laws::<(String, i64)>((&s1, i1), (&s2, i2))?;
        laws::<(i64, String)>((i1, &s1), (i2, &s2))?;
        laws::<(u8, String, i64)>((u1, &s1, i1), (u2, &s2, i2))?;
        laws::<(bool, u8, String, i64)>((c1, u1, &s1, i1), (c2, u2, &s2, i2))?;
        // Pairs of one-word values: two words each.
        laws::<(u32, u8)>((u32::from(u1) << 24, u1), (u32::from(u2) << 24, u2))?;
        laws::<(i64, u64)>((i1, u64::from(u1)), (i2, u64::from(u2)))?;
        laws::<(char, bool)>((char::from(u1), c1), (char::from(u2), c2))?;
        laws::<(Vec<u8>, Vec<u8>)>((s1.as_bytes(), s2.as_bytes()), (s2.as_bytes(), s1.as_bytes()))?;
        no_panic::<(String, i64)>(&bytes);
        no_panic::<(bool, u8, String, i64)>(&bytes);
    }

    /// `Dict<T>`: round trip through the dictionary, a 4-byte fixed width, and
    /// order by first insertion (the documented dictionary order).
    #[test]
    fn dict_laws(values in proptest::collection::vec("[a-c]{0,3}", 1..20), w in any::<i64>()) {
        let mut dict = DictionaryKeyEncoder::new();
        let mut first_seen: Vec<String> = Vec::new();
        for v in &values {
            let code = <Dict<String> as Key>::intern(v, &mut dict).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if !first_seen.contains(v) {
                first_seen.push(v.clone());
            }
            let pos = first_seen.iter().position(|s| s == v).unwrap_or(usize::MAX);
            prop_assert_eq!(code.get() as usize, pos);
            prop_assert_eq!(<Dict<String> as Key>::find(v, &dict), Some(code));
            prop_assert_eq!(<Dict<String> as Key>::resolve(&code, &dict), Some(v.as_str()));
            let mut enc = Vec::new();
            <Dict<String> as Key>::encode(&code, &mut enc);
            prop_assert_eq!(enc.len(), 4);
            prop_assert_eq!(<Dict<String> as Key>::decode(&mut &enc[..]).ok(), Some(code));
        }
        prop_assert_eq!(<Dict<String> as Key>::find("zzz", &dict), None);
        // Composite with a dictionary: inline (u32, u64), byte order = (code, w) order.
        let mut dicts = (DictionaryKeyEncoder::new(), ());
        let k1 = <(Dict<String>, i64) as Key>::intern((&values[0], w), &mut dicts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let k2 = <(Dict<String>, i64) as Key>::intern(("zz", w.wrapping_add(1)), &mut dicts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (mut e1, mut e2) = (Vec::new(), Vec::new());
        <(Dict<String>, i64) as Key>::encode(&k1, &mut e1);
        <(Dict<String>, i64) as Key>::encode(&k2, &mut e2);
        prop_assert_eq!(e1.len(), 12);
        prop_assert_eq!(k1.cmp(&k2), e1.cmp(&e2));
        word_laws(&k1, &k2)?;
        word_laws(&k1, &k1.clone())?;
        prop_assert_eq!(<(Dict<String>, i64) as Key>::resolve(&k2, &dicts), Some(("zz", w.wrapping_add(1))));
    }
}

/// Which representations hash as words, and which lead with a dictionary
/// code (see `KeyRepr::WORDS` and `KeyRepr::DENSE`).
#[test]
fn word_counts() {
    assert_eq!(<u64 as KeyRepr>::WORDS, 1);
    assert_eq!(<u128 as KeyRepr>::WORDS, 2);
    assert_eq!(<DictCode as KeyRepr>::WORDS, 1);
    assert_eq!(<(DictCode, u64) as KeyRepr>::WORDS, 2);
    assert_eq!(<(u32, u8) as KeyRepr>::WORDS, 2);
    assert_eq!(<[u8; 8] as KeyRepr>::WORDS, 1);
    assert_eq!(<[u8; 9] as KeyRepr>::WORDS, 2);
    assert_eq!(<[u8; 17] as KeyRepr>::WORDS, 0);
    assert_eq!(<(u64, u128) as KeyRepr>::WORDS, 0);
    assert_eq!(<(u8, u8, u8) as KeyRepr>::WORDS, 0);
    assert_eq!(<Box<str> as KeyRepr>::WORDS, 0);
    assert_eq!(<(DictCode, Box<str>) as KeyRepr>::WORDS, 0);
    // Checked when the test compiles.
    const {
        assert!(<DictCode as KeyRepr>::DENSE);
        assert!(<(DictCode, u64) as KeyRepr>::DENSE);
        assert!(!<(u64, DictCode) as KeyRepr>::DENSE);
        assert!(!<(DictCode, u128) as KeyRepr>::DENSE);
        assert!(!<(DictCode, DictCode, u8) as KeyRepr>::DENSE);
        assert!(!<u32 as KeyRepr>::DENSE);
    }
    assert_eq!(DictCode::new(2).map(|c| (c, 9u64).to_words()), Some([3, 9]));
    assert_eq!(0x0102_u128.to_words(), [0x0102, 0]);
    assert_eq!((u128::MAX - 1).to_words(), [u64::MAX - 1, u64::MAX]);
    assert_eq!([1u8, 2].to_words(), [0x0201, 0]);
}

#[test]
fn widths_are_constant() {
    assert_eq!(<(Dict<String>, u64) as Key>::WIDTH, Some(12));
    assert_eq!(<(u8, u16, u32, u64) as Key>::WIDTH, Some(15));
    assert_eq!(<(String, u64) as Key>::WIDTH, None);
    const { assert!(!<(Dict<String>, u64) as Key>::ORDERED) };
    const { assert!(<(String, u64) as Key>::ORDERED) };
    // Inline, not heap: the representation of a dict-encoded pair is 16 bytes.
    assert_eq!(
        std::mem::size_of::<<(Dict<String>, u64) as Key>::Repr>(),
        16
    );
    assert_eq!(std::mem::size_of::<<[u8; 20] as Key>::Repr>(), 20);
}

#[test]
fn corrupt_key_bytes_are_errors() {
    assert!(<u64 as Key>::decode(&mut &[1u8, 2][..]).is_err());
    assert!(<bool as Key>::decode(&mut &[2u8][..]).is_err());
    assert!(<char as Key>::decode(&mut &0xD800u32.to_be_bytes()[..]).is_err());
    assert!(<String as Key>::decode(&mut &[b'a', 0, 7][..]).is_err());
    assert!(<String as Key>::decode(&mut &[0xC3, 0, 0][..]).is_err());
    assert!(<String as Key>::decode(&mut &[b'a'][..]).is_err());
}

#[test]
fn dict_codes_keep_their_order_and_refuse_u32_max() {
    let codes: Vec<DictCode> = [0, 1, 7, u32::MAX - 1]
        .into_iter()
        .map(|c| DictCode::new(c).unwrap())
        .collect();
    assert_eq!(
        codes.iter().map(|c| c.get()).collect::<Vec<_>>(),
        [0, 1, 7, u32::MAX - 1]
    );
    assert!(codes.windows(2).all(|w| w[0] < w[1]));
    assert!(DictCode::new(u32::MAX).is_none());
    assert_eq!(format!("{:?}", codes[2]), "DictCode(7)");
    // The niche: an empty hash slot costs no extra word.
    assert_eq!(std::mem::size_of::<Option<((DictCode, u64), u64)>>(), 24);
}
