//! rkt's stage0 as a library: everything `rkt` does on the host before it hands a pod to stage1.

pub mod trust;
