//! Every single-byte corruption and every truncation of a serialized snapshot
//! is reported as an error, never a panic and never a silently different state.

use laminar_core::state::{StateError, StateSnapshot, SNAPSHOT_HEADER_LEN};
use proptest::prelude::*;

fn sample() -> StateSnapshot {
    StateSnapshot::new(
        (0..40u32)
            .map(|i| {
                let key = format!("key:{i:03}").into_bytes();
                let value = vec![i as u8; (i % 7) as usize];
                (key, value)
            })
            .collect(),
    )
}

#[test]
fn every_byte_flip_is_detected() {
    let original = sample();
    let bytes = original.to_bytes().unwrap().to_vec();
    assert!(bytes.len() > 500, "sample should be a few hundred bytes");
    for at in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut corrupt = bytes.clone();
            corrupt[at] ^= mask;
            match StateSnapshot::from_bytes(&corrupt) {
                // CRC-32C detects every error confined to one byte, so no flip
                // may produce a snapshot at all.
                Ok(s) => panic!(
                    "flip {mask:#04x} at {at} accepted (equal to original: {})",
                    s == original
                ),
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    if at >= SNAPSHOT_HEADER_LEN {
                        assert!(
                            matches!(e, StateError::Corruption { .. }),
                            "body flip at {at}: {e}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn every_truncation_is_detected() {
    let original = sample();
    let bytes = original.to_bytes().unwrap().to_vec();
    for len in 0..bytes.len() {
        let err = StateSnapshot::from_bytes(&bytes[..len]).unwrap_err();
        assert!(
            matches!(err, StateError::Corruption { .. }),
            "len {len}: {err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("truncated") || msg.contains("magic"),
            "len {len}: {msg}"
        );
    }
    // The whole input, and only it, decodes: to the snapshot that was written.
    assert_eq!(StateSnapshot::from_bytes(&bytes).unwrap(), original);
}

#[test]
fn trailing_bytes_are_rejected() {
    let mut bytes = sample().to_bytes().unwrap().to_vec();
    bytes.push(0);
    let err = StateSnapshot::from_bytes(&bytes).unwrap_err();
    assert!(err.to_string().contains("trailing"), "{err}");
}

#[test]
fn view_rejects_what_from_bytes_rejects() {
    let bytes = sample().to_bytes().unwrap();
    let mut aligned = rkyv::util::AlignedVec::<16>::new();
    aligned.extend_from_slice(&bytes);
    aligned[SNAPSHOT_HEADER_LEN + 3] ^= 0x10;
    assert!(StateSnapshot::view(&aligned).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary input never panics.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        prop_assert!(StateSnapshot::from_bytes(&bytes).is_err());
    }

    /// A valid header in front of garbage: validation rejects it, or accepts
    /// a body that really is a snapshot (then it round-trips), never panics.
    #[test]
    fn garbage_body_never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut bytes = StateSnapshot::new(vec![]).to_bytes().unwrap()[..SNAPSHOT_HEADER_LEN].to_vec();
        bytes[16..24].copy_from_slice(&(body.len() as u64).to_le_bytes());
        bytes[24..28].copy_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        let crc = crc32c::crc32c(&bytes[..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        bytes.extend_from_slice(&body);
        if let Ok(s) = StateSnapshot::from_bytes(&bytes) {
            let again = StateSnapshot::from_bytes(&s.to_bytes().unwrap()).unwrap();
            prop_assert_eq!(again, s);
        }
    }
}
