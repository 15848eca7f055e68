//! Pure parsers for imsight.
