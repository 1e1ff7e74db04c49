//! TODO(owner): module isolator
