//! The builtins a policy may not call: those that read something other than the input (the
//! clock, randomness, the network, the process's environment). A policy is a function of its
//! input alone, so that `apply` evaluating it again sees what `plan` saw. The engine is built
//! without the groups most of them belong to (`time`, `uuid`, `http`, `net`, `opa-runtime`),
//! but `rand.intn` comes with `std`, which the engine needs: each is replaced by a function
//! that fails, naming itself, wherever the policy calls it from.

use regorus::{Engine, Value};

/// `(name, arguments, what it reads)`: every builtin OPA documents as non-deterministic, and
/// those that read the clock.
const REMOVED: &[(&str, u8, &str)] = &[
    ("rand.intn", 2, "it draws a random number"),
    ("uuid.rfc4122", 1, "it draws a random UUID"),
    ("time.now_ns", 0, "it reads the clock"),
    ("http.send", 1, "it reads the network"),
    ("net.lookup_ip_addr", 1, "it reads the network (DNS)"),
    ("opa.runtime", 0, "it reads the process's environment"),
    ("io.jwt.decode_verify", 2, "it reads the clock"),
    ("crypto.x509.parse_and_verify_certificates", 1, "it reads the clock"),
    (
        "crypto.x509.parse_and_verify_certificates_with_options",
        2,
        "it reads the clock",
    ),
];

/// Why a call failed: the engine prefixes the call's position.
#[derive(Debug, thiserror::Error)]
#[error("`{name}` is not available to policies: {why}, and a policy is a function of its input alone")]
struct Removed {
    name: &'static str,
    why: &'static str,
}

/// Replaces every builtin of [`REMOVED`] in `engine` (and in its clones).
pub(crate) fn remove(engine: &mut Engine) -> Result<(), String> {
    for (name, arguments, why) in REMOVED {
        engine
            .add_extension((*name).to_owned(), *arguments, Box::new(refusal(name, why)))
            .map_err(|e| format!("replacing `{name}`: {e}"))?;
    }
    Ok(())
}

/// The engine's callback wants its own error type; `E` is inferred as that, which spares this
/// crate a dependency on it.
fn refusal<E: From<Removed>>(
    name: &'static str,
    why: &'static str,
) -> impl FnMut(Vec<Value>) -> Result<Value, E> + Clone + Send + Sync {
    move |_| Err(Removed { name, why }.into())
}
