//! The AIWorkSpace wire contract: the API version, and each operation's action name, method
//! and path.
//!
//! The client builds its calls from these and the emulator routes by them, so the two cannot
//! drift apart; what keeps them true to the real service is the conformance tests against the
//! official SDK (crates/apply/tests/client_conformance.rs, crates/emulator/tests/sdk_conformance.rs).
//! It lives beside the signer because both sides already depend on it and the contract is no
//! more than names: the request and response bodies stay with each side, which reads them
//! differently on purpose (the client tolerantly, the emulator strictly).

/// The API version every AIWorkSpace request names in `x-acs-version`.
pub const API_VERSION: &str = "2021-02-04";

/// One AIWorkSpace API operation as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The `x-acs-action` header's value.
    pub action: &'static str,
    pub method: &'static str,
    pub path: &'static str,
}

/// Order products; the one call that costs money.
pub const CREATE_PRODUCT_ORDERS: Operation = Operation {
    action: "CreateProductOrders",
    method: "POST",
    path: "/api/v1/productorders",
};

/// What the account has purchased; read-only.
pub const LIST_PRODUCTS: Operation = Operation {
    action: "ListProducts",
    method: "GET",
    path: "/api/v1/products",
};

/// Every AIWorkSpace operation the client calls and the emulator serves.
pub const OPERATIONS: [Operation; 2] = [CREATE_PRODUCT_ORDERS, LIST_PRODUCTS];

/// The operation a request's method and path name, if any.
pub fn operation(method: &str, path: &str) -> Option<Operation> {
    OPERATIONS.into_iter().find(|op| op.method == method && op.path == path)
}

/// STS, where the OIDC credential path exchanges a token for keys: an RPC-style endpoint with
/// its own version, served on `/`.
pub mod sts {
    pub const ACTION: &str = "AssumeRoleWithOIDC";
    pub const VERSION: &str = "2015-04-01";
    /// A fleet's way into each account: a signed RPC call (`POST /`, `x-acs-action`,
    /// `x-acs-version` [`VERSION`], ACS3-HMAC-SHA256) with the base credentials, for STS keys of
    /// a role in that account.
    pub const ASSUME_ROLE: &str = "AssumeRole";
}

/// Resource Directory (the Resource Manager API), where a fleet file's `[discovery]` finds the
/// accounts under a folder: a signed RPC call (`POST /`, `x-acs-action`, `x-acs-version`).
pub mod resource_manager {
    pub const VERSION: &str = "2020-03-31";
    pub const LIST_ACCOUNTS: &str = "ListAccounts";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_operation_is_found_by_its_method_and_path_only() {
        let cases = [
            ("POST", "/api/v1/productorders", Some(CREATE_PRODUCT_ORDERS)),
            ("GET", "/api/v1/products", Some(LIST_PRODUCTS)),
            ("GET", "/api/v1/productorders", None),
            ("POST", "/api/v1/products", None),
            ("GET", "/api/v1/products/", None),
            ("GET", "/", None),
        ];
        for (method, path, want) in cases {
            assert_eq!(operation(method, path), want, "{method} {path}");
        }
    }
}
