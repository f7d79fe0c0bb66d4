//! DSSE, the Dead Simple Signing Envelope (secure-systems-lab/dsse, protocol 1.0.0): a payload,
//! its type, and Ed25519 signatures over `PAE(payloadType, payload)`, in the JSON envelope
//! `{"payloadType", "payload", "signatures": [{"keyid", "sig"}]}` with base64 payload and
//! signatures.
//!
//! The signature covers the payload type as well as the payload, so neither can be swapped. The
//! `keyid` is not signed: per the spec it only narrows which keys are tried, so a signature whose
//! keyid names another key is skipped, never trusted because of it.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// The payload type of an in-toto Statement in JSON.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// A DSSE envelope as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// How to read the payload, e.g. [`IN_TOTO_PAYLOAD_TYPE`].
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The payload, base64 (standard alphabet, padded, when written here; either alphabet, with
    /// or without padding, when read, as the spec asks of verifiers).
    pub payload: String,
    /// One or more signatures over `PAE(payloadType, payload)`.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeSignature {
    /// Which key signed: [`key_id`] of its public key. Unauthenticated, a hint only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
    /// The Ed25519 signature, base64.
    pub sig: String,
}

/// Why an envelope did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DsseError {
    /// The payload is not base64.
    #[error("the envelope's payload is not base64")]
    PayloadEncoding,
    /// The envelope holds no signature at all.
    #[error("the envelope holds no signature")]
    Unsigned,
    /// No signature verified with the key.
    #[error(
        "no signature in the envelope verifies with the key {keyid} (the payload, its type or \
         the signature was changed, or it was signed with another key)"
    )]
    BadSignature {
        /// [`key_id`] of the key that was tried.
        keyid: String,
    },
}

/// The Pre-Authentication Encoding of DSSE: `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP
/// body`, lengths in ASCII decimal bytes. This is what is signed, never the JSON.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let head = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    );
    let mut bytes = Vec::with_capacity(head.len() + payload.len());
    bytes.extend_from_slice(head.as_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

/// The key id written in envelopes: the lowercase hex SHA-256 of the public key's DER
/// SubjectPublicKeyInfo (the bytes inside `openssl pkey -pubout`'s PEM), so anyone holding the
/// public key file can compute it.
pub fn key_id(key: &VerifyingKey) -> String {
    match key.to_public_key_der() {
        Ok(der) => hex::encode(Sha256::digest(der.as_bytes())),
        // Encoding a 32-byte key cannot fail; an empty id only means "no hint".
        Err(_) => String::new(),
    }
}

/// Sign `payload` of type `payload_type` with `key` into an envelope with one signature.
pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey) -> Envelope {
    let signature = key.sign(&pae(payload_type, payload));
    Envelope {
        payload_type: payload_type.to_string(),
        payload: STANDARD.encode(payload),
        signatures: vec![EnvelopeSignature {
            keyid: key_id(&key.verifying_key()),
            sig: STANDARD.encode(signature.to_bytes()),
        }],
    }
}

impl Envelope {
    /// The payload's bytes, unverified.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, DsseError> {
        decode_base64(&self.payload).ok_or(DsseError::PayloadEncoding)
    }

    /// Check that at least one signature is `key`'s over `PAE(payloadType, payload)`, and return
    /// the payload. Signatures whose keyid names another key, or that are not base64 of 64
    /// bytes, are skipped.
    pub fn verify(&self, key: &VerifyingKey) -> Result<Vec<u8>, DsseError> {
        let payload = self.payload_bytes()?;
        if self.signatures.is_empty() {
            return Err(DsseError::Unsigned);
        }
        let keyid = key_id(key);
        let signed = pae(&self.payload_type, &payload);
        let verified = self
            .signatures
            .iter()
            .filter(|s| s.keyid.is_empty() || s.keyid == keyid)
            .filter_map(|s| decode_base64(&s.sig))
            .filter_map(|bytes| Signature::from_slice(&bytes).ok())
            .any(|signature| key.verify_strict(&signed, &signature).is_ok());
        if verified {
            Ok(payload)
        } else {
            Err(DsseError::BadSignature { keyid })
        }
    }
}

/// Standard or URL-safe base64, padded or not (the spec lets signers use either). Trailing bits
/// must be zero, so every byte of the text matters.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let bare = text.strip_suffix("==").or_else(|| text.strip_suffix('='));
    let bare = bare.unwrap_or(text);
    STANDARD_NO_PAD
        .decode(bare)
        .or_else(|_| URL_SAFE_NO_PAD.decode(bare))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn pae_matches_the_spec_test_vector() {
        // protocol.md of secure-systems-lab/dsse, "Test Vectors".
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        // Lengths count bytes, not characters, and an empty body keeps its separator.
        assert_eq!(
            pae("t", "é".as_bytes()),
            "DSSEv1 1 t 2 é".as_bytes().to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn an_envelope_round_trips_through_json_and_verifies() {
        let signer = key(7);
        let envelope = sign(IN_TOTO_PAYLOAD_TYPE, b"{\"a\":1}", &signer);
        let text = serde_json::to_string(&envelope).expect("serialised");
        assert!(text.starts_with("{\"payloadType\":\"application/vnd.in-toto+json\""));
        let back: Envelope = serde_json::from_str(&text).expect("parsed");
        assert_eq!(back, envelope);
        assert_eq!(
            back.verify(&signer.verifying_key()),
            Ok(b"{\"a\":1}".to_vec())
        );
        assert_eq!(back.signatures[0].keyid, key_id(&signer.verifying_key()));
        assert_eq!(back.signatures[0].keyid.len(), 64);
    }

    #[test]
    fn url_safe_and_unpadded_base64_are_accepted() {
        let signer = key(3);
        // Bytes whose standard base64 uses '+' and '/' and needs padding.
        let payload = [0xfb_u8, 0xff, 0xfe, 0x3e, 0x3f];
        let mut envelope = sign("t", &payload, &signer);
        envelope.payload = URL_SAFE_NO_PAD.encode(payload);
        envelope.signatures[0].sig = envelope.signatures[0]
            .sig
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_string();
        assert_eq!(
            envelope.verify(&signer.verifying_key()),
            Ok(payload.to_vec())
        );
    }

    #[test]
    fn a_changed_payload_type_signature_keyid_or_key_fails() {
        let signer = key(1);
        let good = sign(IN_TOTO_PAYLOAD_TYPE, b"{\"verdict\":\"NO-GO\"}", &signer);
        let public = signer.verifying_key();
        let bad_sig = |e: Result<Vec<u8>, DsseError>| {
            assert!(matches!(e, Err(DsseError::BadSignature { .. })), "{e:?}")
        };

        let mut payload = good.clone();
        payload.payload = STANDARD.encode(b"{\"verdict\":\"GO\"}");
        bad_sig(payload.verify(&public));

        let mut kind = good.clone();
        kind.payload_type = "application/json".into();
        bad_sig(kind.verify(&public));

        let mut sig = good.clone();
        let mut raw = STANDARD.decode(&sig.signatures[0].sig).expect("base64");
        raw[10] ^= 1;
        sig.signatures[0].sig = STANDARD.encode(raw);
        bad_sig(sig.verify(&public));

        let mut keyid = good.clone();
        keyid.signatures[0].keyid = "0".repeat(64);
        bad_sig(keyid.verify(&public));

        bad_sig(good.verify(&key(2).verifying_key()));

        let mut none = good.clone();
        none.signatures.clear();
        assert_eq!(none.verify(&public), Err(DsseError::Unsigned));

        let mut garbled = good.clone();
        garbled.payload.push('!');
        assert_eq!(garbled.verify(&public), Err(DsseError::PayloadEncoding));

        assert!(good.verify(&public).is_ok());
    }
}
