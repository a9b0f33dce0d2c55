//! TEE attestation evidence, statement binding and confidential inputs.
