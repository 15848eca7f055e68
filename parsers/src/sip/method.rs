//! SIP methods and status codes (RFC 3261 §7.1, §7.2, §21 and the IMS extensions).

use std::fmt;

/// A request method. Methods are case-sensitive (RFC 3261 §7.1); unknown tokens are kept as
/// [`Method::Extension`] so that they still count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method<'a> {
    /// RFC 3261.
    Register,
    /// RFC 3261.
    Invite,
    /// RFC 3261.
    Ack,
    /// RFC 3261.
    Bye,
    /// RFC 3261.
    Cancel,
    /// RFC 3262.
    Prack,
    /// RFC 3311.
    Update,
    /// RFC 3261.
    Options,
    /// RFC 6665.
    Subscribe,
    /// RFC 6665.
    Notify,
    /// RFC 3903.
    Publish,
    /// RFC 3428.
    Message,
    /// RFC 6086.
    Info,
    /// RFC 3515.
    Refer,
    /// Any other token.
    Extension(&'a str),
}

impl<'a> Method<'a> {
    /// The methods with their own variant, in a fixed order (feature order uses it).
    pub const KNOWN: [Method<'static>; 14] = [
        Method::Register,
        Method::Invite,
        Method::Ack,
        Method::Bye,
        Method::Cancel,
        Method::Prack,
        Method::Update,
        Method::Options,
        Method::Subscribe,
        Method::Notify,
        Method::Publish,
        Method::Message,
        Method::Info,
        Method::Refer,
    ];

    /// Parses a method token; `None` if `token` is empty or holds non-token bytes.
    pub fn from_token(token: &'a [u8]) -> Option<Self> {
        if let Some(known) = Method::known(token) {
            return Some(known);
        }
        if token.is_empty() || !token.iter().all(|&b| is_token_char(b)) {
            return None;
        }
        // Token bytes are ASCII, so this cannot fail.
        Some(Self::Extension(std::str::from_utf8(token).ok()?))
    }

    /// One of the methods with their own variant, or `None`.
    pub fn known(token: &[u8]) -> Option<Method<'static>> {
        Some(match token {
            b"REGISTER" => Method::Register,
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"PRACK" => Method::Prack,
            b"UPDATE" => Method::Update,
            b"OPTIONS" => Method::Options,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"PUBLISH" => Method::Publish,
            b"MESSAGE" => Method::Message,
            b"INFO" => Method::Info,
            b"REFER" => Method::Refer,
            _ => return None,
        })
    }

    /// The method as written on the wire.
    pub fn as_str(&self) -> &'a str {
        match self {
            Self::Register => "REGISTER",
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Prack => "PRACK",
            Self::Update => "UPDATE",
            Self::Options => "OPTIONS",
            Self::Subscribe => "SUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::Publish => "PUBLISH",
            Self::Message => "MESSAGE",
            Self::Info => "INFO",
            Self::Refer => "REFER",
            Self::Extension(token) => token,
        }
    }
}

impl fmt::Display for Method<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A response status code, 100 to 699 (checked when parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(pub u16);

impl StatusCode {
    /// The class digit: 1 for 1xx ... 6 for 6xx.
    pub fn class(self) -> u8 {
        (self.0 / 100) as u8
    }

    /// 1xx.
    pub fn is_provisional(self) -> bool {
        self.class() == 1
    }

    /// 2xx to 6xx.
    pub fn is_final(self) -> bool {
        self.class() >= 2
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// `token` characters of RFC 3261 §25.1.
pub fn is_token_char(b: u8) -> bool {
    TOKEN[b as usize]
}

/// Lookup table for [`is_token_char`]: it runs for every byte of every header name.
const TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~');
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_extension_methods() {
        assert_eq!(Method::from_token(b"INVITE"), Some(Method::Invite));
        assert_eq!(Method::from_token(b"invite"), Some(Method::Extension("invite")));
        assert_eq!(Method::from_token(b"X-FOO"), Some(Method::Extension("X-FOO")));
        assert_eq!(Method::from_token(b""), None);
        assert_eq!(Method::from_token(b"IN VITE"), None);
        for method in Method::KNOWN {
            assert_eq!(Method::from_token(method.as_str().as_bytes()), Some(method));
        }
    }

    #[test]
    fn token_characters_follow_rfc_3261() {
        let tokens: Vec<u8> = (0..=255u8).filter(|&b| is_token_char(b)).collect();
        let expected: Vec<u8> = (0..=255u8)
            .filter(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(b))
            .collect();
        assert_eq!(tokens, expected);
    }

    #[test]
    fn status_classes() {
        assert_eq!(StatusCode(183).class(), 1);
        assert!(StatusCode(183).is_provisional());
        assert!(StatusCode(487).is_final());
    }
}
