//! `pkiCert`'s certificate handling, as consul-template's: the template's destination file is
//! the cache. Its PEM blocks are sorted into the certificate, the private key and the CA; the
//! certificate is kept while less than 90 % of its remaining life has passed and at least a
//! tenth of its lifespan is left, and issued again otherwise.
//!
//! The certificate's validity and its CA flag are read with a small DER reader (only the fields
//! needed: `tbsCertificate.validity` and the `basicConstraints` extension).

use base64::Engine as _;

/// The PEM strings `pkiCert` gives a template (`.Cert`, `.Key`, `.CA`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PemEncoded {
    /// The leaf certificate.
    pub cert: String,
    /// The private key.
    pub key: String,
    /// The CA certificate.
    pub ca: String,
}

/// A certificate's validity, in seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// `notBefore`.
    pub not_before: i64,
    /// `notAfter`.
    pub not_after: i64,
}

/// Sorts the PEM blocks of `text` (a destination file, or an issue response's strings) into
/// certificate, key and CA; returns the leaf certificate's validity when there is one.
pub fn classify(text: &str) -> Result<(PemEncoded, Option<Validity>), String> {
    let mut found = PemEncoded::default();
    let mut validity = None;
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN") {
        let block = &rest[start..];
        let Some(end_marker) = block.find("-----END") else {
            break;
        };
        let Some(end_dashes) = block[end_marker + 8..].find("-----") else {
            break;
        };
        let end = end_marker + 8 + end_dashes + 5;
        let pem = &block[..end];
        rest = &block[end..];
        let Some((label, der)) = decode_pem(pem) else {
            continue;
        };
        if label.ends_with("PRIVATE KEY") {
            found.key = encode_pem(&label, &der);
            continue;
        }
        let certificate = parse_certificate(&der)
            .ok_or_else(|| format!("a `{label}` PEM block is not a certificate"))?;
        if certificate.is_ca {
            found.ca = encode_pem(&label, &der);
        } else {
            found.cert = encode_pem(&label, &der);
            validity = Some(certificate.validity);
        }
    }
    Ok((found, validity))
}

/// How long the certificate stays good (about 90 % of its remaining life, with ±3 % jitter
/// above 100 s), or `None` when it should be issued again (expired, or less than a tenth of
/// its lifespan would be left).
pub fn good_for(validity: Validity, now: i64, jitter_percent: i64) -> Option<u64> {
    if validity.not_after <= now {
        return None;
    }
    let lifespan = validity.not_after - validity.not_before;
    let remaining = validity.not_after - now;
    let mut good = remaining * 9 / 10;
    if good <= lifespan / 10 {
        return None;
    }
    if good > 100 {
        good += good / 100 * jitter_percent.clamp(-3, 2);
    }
    u64::try_from(good).ok()
}

/// Go's `pem.EncodeToMemory`: base64 in lines of 64 characters.
fn encode_pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn decode_pem(pem: &str) -> Option<(String, Vec<u8>)> {
    let first_line_end = pem.find('\n')?;
    let label = pem[..first_line_end]
        .trim()
        .strip_prefix("-----BEGIN ")?
        .strip_suffix("-----")?
        .to_owned();
    let end = pem.find("-----END")?;
    let body: String = pem[first_line_end..end]
        .lines()
        .filter(|line| !line.contains(':'))
        .flat_map(|line| line.trim().chars())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    Some((label, der))
}

struct Certificate {
    validity: Validity,
    is_ca: bool,
}

/// One DER element: its tag and contents.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)? as usize;
    let (length, header) = if first < 0x80 {
        (first, 2)
    } else {
        let count = first & 0x7f;
        if count == 0 || count > 4 {
            return None;
        }
        let mut length = 0usize;
        for byte in input.get(2..2 + count)? {
            length = (length << 8) | *byte as usize;
        }
        (length, 2 + count)
    };
    let contents = input.get(header..header + length)?;
    Some((tag, contents, &input[header + length..]))
}

fn parse_certificate(der: &[u8]) -> Option<Certificate> {
    let (0x30, certificate, _) = element(der)? else {
        return None;
    };
    let (0x30, tbs, _) = element(certificate)? else {
        return None;
    };
    let mut rest = tbs;
    // [0] version, optional.
    if rest.first() == Some(&0xa0) {
        rest = element(rest)?.2;
    }
    rest = element(rest)?.2; // serialNumber
    rest = element(rest)?.2; // signature
    rest = element(rest)?.2; // issuer
    let (0x30, validity, after_validity) = element(rest)? else {
        return None;
    };
    let (before_tag, before, validity_rest) = element(validity)?;
    let (after_tag, after, _) = element(validity_rest)?;
    let validity = Validity {
        not_before: time(before_tag, before)?,
        not_after: time(after_tag, after)?,
    };
    rest = element(after_validity)?.2; // subject
    rest = element(rest)?.2; // subjectPublicKeyInfo
    let mut is_ca = false;
    while let Some((tag, contents, next)) = element(rest) {
        if tag == 0xa3 {
            is_ca = basic_constraints_ca(contents).unwrap_or(false);
        }
        rest = next;
    }
    Some(Certificate { validity, is_ca })
}

/// The `cA` flag of the `basicConstraints` extension in `[3] Extensions`.
fn basic_constraints_ca(explicit: &[u8]) -> Option<bool> {
    const BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
    let (0x30, mut extensions, _) = element(explicit)? else {
        return None;
    };
    while let Some((_, extension, next)) = element(extensions) {
        extensions = next;
        let (0x06, oid, mut rest) = element(extension)? else {
            continue;
        };
        if oid != BASIC_CONSTRAINTS {
            continue;
        }
        if rest.first() == Some(&0x01) {
            rest = element(rest)?.2; // critical
        }
        let (0x04, value, _) = element(rest)? else {
            return None;
        };
        let (0x30, constraints, _) = element(value)? else {
            return None;
        };
        return Some(match element(constraints) {
            Some((0x01, flag, _)) => flag.first().is_some_and(|b| *b != 0),
            _ => false,
        });
    }
    None
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as Unix seconds.
fn time(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let digits = |from: usize, to: usize| text.get(from..to)?.parse::<i64>().ok();
    let (year, at) = match tag {
        0x17 => {
            let year = digits(0, 2)?;
            (if year >= 50 { 1900 + year } else { 2000 + year }, 2)
        }
        0x18 => (digits(0, 4)?, 4),
        _ => return None,
    };
    let month = digits(at, at + 2)?;
    let day = digits(at + 2, at + 4)?;
    let hour = digits(at + 4, at + 6)?;
    let minute = digits(at + 6, at + 8)?;
    let second = digits(at + 8, at + 10)?;
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_lifetimes() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(time(0x17, b"260101000000Z"), Some(1_767_225_600));
        assert_eq!(time(0x18, b"20260101000000Z"), Some(1_767_225_600));
        let validity = Validity {
            not_before: 0,
            not_after: 1000,
        };
        assert_eq!(good_for(validity, 0, 0), Some(900));
        assert_eq!(good_for(validity, 850, 0), Some(135));
        assert_eq!(
            good_for(validity, 900, 0),
            None,
            "90 % of what is left is under a tenth of the lifespan"
        );
        assert_eq!(good_for(validity, 1000, 0), None, "expired");
    }
}
