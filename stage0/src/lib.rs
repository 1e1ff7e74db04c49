//! rkt's stage0 as a library: everything `rkt` does on the host before it hands a pod to stage1:
//! configuration, image references, the trust store, fetching and the image store.

pub mod config;
pub mod fetch;
pub mod fsutil;
pub mod image_ref;
pub mod images;
pub mod insecure;
pub mod metadata;
pub mod oci;
pub mod pod;
pub mod pod_ops;
pub mod remote;
pub mod run;
pub mod stage1_abi;
pub mod store;
mod tls;
pub mod trust;
