//! The one error type of every parser: a copyable reason, cheap to count, no formatting on the
//! hot path. It plugs into nom as its error type.

use nom::error::ErrorKind;

/// Why an input was rejected. `reason()` gives a stable snake_case label for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ParseError {
    // ---- SIP ----
    /// The bytes do not start like a SIP message (another protocol, or junk).
    #[error("not a SIP message")]
    NotSip,
    /// A SIP-like start line that does not follow RFC 3261 §7.1/§7.2.
    #[error("malformed SIP start line")]
    MalformedStartLine,
    /// The status code is not three digits between 100 and 699.
    #[error("invalid SIP status code")]
    InvalidStatusCode,
    /// More than [`crate::sip::MAX_HEADERS`] header lines.
    #[error("too many SIP header lines")]
    TooManyHeaders,
    /// The header section exceeds [`crate::sip::MAX_HEADER_SECTION_LEN`] without ending.
    #[error("SIP header section too long")]
    HeaderSectionTooLong,
    /// The header section does not end with an empty line.
    #[error("SIP header section not terminated")]
    HeadersUnterminated,
    /// Content-Length is not a number (or several disagree).
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// A message on a stream transport without Content-Length (RFC 3261 §18.3 requires it).
    #[error("missing Content-Length on a stream")]
    MissingContentLength,
    /// Content-Length above [`crate::sip::MAX_BODY_LEN`].
    #[error("SIP body too large")]
    BodyTooLarge,
    /// A datagram asked for more bytes (datagram parsing never should; counted if it does).
    #[error("SIP message incomplete")]
    Incomplete,

    // ---- HEP ----
    /// Neither `HEP3`/`EEP3` nor a HEPv1/v2 version byte.
    #[error("not a HEP packet")]
    NotHep,
    /// The HEPv3 total length differs from the bytes received.
    #[error("HEP length does not match the datagram")]
    HepLengthMismatch,
    /// A chunk header or chunk does not fit in the packet, or declares less than 6 bytes.
    #[error("HEP chunk length invalid")]
    HepChunkLength,
    /// A fixed-size chunk (address, port, timestamp, ...) has the wrong size.
    #[error("HEP chunk has the wrong size for its type")]
    HepChunkSize,
    /// No payload chunk (0x000f or 0x0010).
    #[error("HEP packet without payload")]
    HepMissingPayload,
    /// The compressed payload (0x0010) does not inflate, or inflates beyond the cap.
    #[error("HEP compressed payload does not decompress")]
    HepDecompress,
    /// A HEPv1/v2 header shorter than its declared length or with an unknown family.
    #[error("malformed HEPv1/v2 header")]
    HepLegacyHeader,

    // ---- captures ----
    /// The file is neither pcap nor pcapng.
    #[error("unknown capture file format")]
    UnknownCaptureFormat,
    /// The capture container is damaged or ends mid-record.
    #[error("damaged capture file")]
    DamagedCapture,
    /// A link type this decoder does not handle.
    #[error("unsupported link type")]
    UnsupportedLinkType,
    /// A link, IP or transport header that does not decode.
    #[error("malformed packet headers")]
    MalformedPacket,

    // ---- probe records (xDR) ----
    /// A required field is empty or missing.
    #[error("missing required field")]
    MissingField,
    /// A field's value does not have its documented form.
    #[error("invalid field value")]
    InvalidField,
    /// The line is not valid CSV or JSON, or has the wrong number of fields.
    #[error("malformed record line")]
    MalformedRecord,
    /// The CSV header row lacks a required column or names an unknown one.
    #[error("invalid CSV header row")]
    InvalidHeaderRow,

    /// A nom combinator failed where no domain-specific reason applies.
    #[error("parse error ({0:?})")]
    Nom(ErrorKind),
}

impl ParseError {
    /// A stable, bounded label for metrics and reports.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotSip => "not_sip",
            Self::MalformedStartLine => "malformed_start_line",
            Self::InvalidStatusCode => "invalid_status_code",
            Self::TooManyHeaders => "too_many_headers",
            Self::HeaderSectionTooLong => "header_section_too_long",
            Self::HeadersUnterminated => "headers_unterminated",
            Self::InvalidContentLength => "invalid_content_length",
            Self::MissingContentLength => "missing_content_length",
            Self::BodyTooLarge => "body_too_large",
            Self::Incomplete => "incomplete",
            Self::NotHep => "not_hep",
            Self::HepLengthMismatch => "hep_length_mismatch",
            Self::HepChunkLength => "hep_chunk_length",
            Self::HepChunkSize => "hep_chunk_size",
            Self::HepMissingPayload => "hep_missing_payload",
            Self::HepDecompress => "hep_decompress",
            Self::HepLegacyHeader => "hep_legacy_header",
            Self::UnknownCaptureFormat => "unknown_capture_format",
            Self::DamagedCapture => "damaged_capture",
            Self::UnsupportedLinkType => "unsupported_link_type",
            Self::MalformedPacket => "malformed_packet",
            Self::MissingField => "missing_field",
            Self::InvalidField => "invalid_field",
            Self::MalformedRecord => "malformed_record",
            Self::InvalidHeaderRow => "invalid_header_row",
            Self::Nom(_) => "syntax",
        }
    }
}

impl<I> nom::error::ParseError<I> for ParseError {
    fn from_error_kind(_input: I, kind: ErrorKind) -> Self {
        Self::Nom(kind)
    }

    fn append(_input: I, _kind: ErrorKind, other: Self) -> Self {
        // The innermost, domain-specific reason is the useful one.
        other
    }
}

impl From<ParseError> for nom::Err<ParseError> {
    fn from(error: ParseError) -> Self {
        nom::Err::Error(error)
    }
}

/// The result type of every parser entry point.
pub type IResult<I, O> = nom::IResult<I, O, ParseError>;
