//! The stored form of a CloudTrail record in a DynamoDB item: raw deflate with a preset
//! dictionary of CloudTrail's own field names and common values.
//!
//! A DynamoDB write unit covers 1 KB, and a typical record is 1–2 KB of JSON that gzip alone
//! shrinks only to about 700 bytes (a single record is too short for the compressor to learn its
//! vocabulary). Priming the compressor with that vocabulary brings it to about 400 bytes, so an
//! event item fits one write unit. The first byte of the stored value names the format; the
//! dictionary is part of format 1 and must never change — a new dictionary is a new format.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Format 0: the record as UTF-8, uncompressed.
const PLAIN: u8 = 0;
/// Format 1: raw deflate primed with [`DICTIONARY_V1`].
const DEFLATE_V1: u8 = 1;

/// Representative CloudTrail JSON, most common strings last (deflate prefers near matches).
const DICTIONARY_V1: &[u8] = include_bytes!("cloudtrail.dict");

/// Compresses a record's text into its stored form.
pub(crate) fn encode(raw: &str) -> Vec<u8> {
    let mut c = Compress::new(Compression::new(6), false);
    c.set_dictionary(DICTIONARY_V1)
        .expect("a raw deflate stream accepts a dictionary before its first byte");
    let mut out = Vec::with_capacity(raw.len() / 2 + 64);
    out.push(DEFLATE_V1);
    loop {
        let consumed = c.total_in() as usize;
        out.reserve(256);
        let status = c
            .compress_vec(&raw.as_bytes()[consumed..], &mut out, FlushCompress::Finish)
            .expect("compressing into a growing vector cannot fail");
        if status == Status::StreamEnd {
            break;
        }
    }
    if out.len() > raw.len() {
        // Incompressible: store it as it is.
        let mut plain = Vec::with_capacity(raw.len() + 1);
        plain.push(PLAIN);
        plain.extend_from_slice(raw.as_bytes());
        return plain;
    }
    out
}

/// The record's text back from its stored form.
pub(crate) fn decode(stored: &[u8]) -> Result<String, String> {
    let (&format, body) = stored.split_first().ok_or("empty stored record")?;
    let bytes = match format {
        PLAIN => body.to_vec(),
        DEFLATE_V1 => {
            let mut d = Decompress::new(false);
            d.set_dictionary(DICTIONARY_V1)
                .map_err(|e| format!("dictionary: {e}"))?;
            let mut out = Vec::with_capacity(body.len() * 4);
            loop {
                let (read, written) = (d.total_in(), d.total_out());
                out.reserve(out.capacity().max(1024));
                let status = d
                    .decompress_vec(&body[read as usize..], &mut out, FlushDecompress::Finish)
                    .map_err(|e| format!("corrupt stored record: {e}"))?;
                if status == Status::StreamEnd {
                    break;
                }
                if (d.total_in(), d.total_out()) == (read, written) {
                    return Err("stored record is truncated".to_owned());
                }
            }
            out
        }
        other => return Err(format!("unknown stored record format {other}")),
    };
    String::from_utf8(bytes).map_err(|e| format!("stored record is not UTF-8: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:alice","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLE","arn":"arn:aws:iam::111122223333:role/Admin","accountId":"111122223333","userName":"Admin"},"attributes":{"creationDate":"2026-03-02T08:55:00Z","mfaAuthenticated":"true"}}},"eventTime":"2026-03-02T09:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.0","requestParameters":{"userName":"bob"},"responseElements":{"user":{"path":"/","userName":"bob","userId":"AIDAEXAMPLE","arn":"arn:aws:iam::111122223333:user/bob","createDate":"Mar 2, 2026, 9:00:00 AM"}},"requestID":"6f1b0e0e-0000-4000-8000-000000000001","eventID":"0b0e5a57-0000-4000-8000-000000000001","readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"iam.amazonaws.com"}}"#;

    #[test]
    fn round_trips_byte_for_byte() {
        for raw in [RECORD, "", "{}", "é ✓ 𝄞", &"x".repeat(300_000)] {
            assert_eq!(decode(&encode(raw)).unwrap(), raw);
        }
    }

    #[test]
    fn a_typical_record_fits_well_under_one_write_unit() {
        let stored = encode(RECORD);
        assert_eq!(stored[0], DEFLATE_V1);
        assert!(
            stored.len() < 600,
            "{} bytes stored for a {}-byte record",
            stored.len(),
            RECORD.len()
        );
    }

    #[test]
    fn incompressible_text_is_stored_plain() {
        // Bytes with no repetition: compression would only add.
        let raw: String = (0..2_000u32)
            .map(|i| char::from_u32(0x4E00 + (i * 7919) % 20_000).unwrap())
            .collect();
        let stored = encode(&raw);
        assert!(stored.len() <= raw.len() + 1);
        assert_eq!(decode(&stored).unwrap(), raw);
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let stored = encode(RECORD);
        assert!(decode(&stored[..stored.len() / 2]).is_err());
        assert!(decode(&[]).is_err());
        assert!(decode(&[9, 1, 2]).is_err());
        let mut flipped = stored.clone();
        flipped[10] ^= 0xff;
        assert!(decode(&flipped).map_or(true, |s| s != RECORD));
    }
}
