//! TODO(owner): module discovery
