//! TODO(owner): module manifest
