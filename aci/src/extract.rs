//! TODO(owner): module extract
