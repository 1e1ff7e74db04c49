//! TODO(owner): module archive
