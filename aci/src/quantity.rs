//! TODO(owner): module quantity
