//! TODO(owner): module render
