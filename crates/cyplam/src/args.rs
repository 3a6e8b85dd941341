//! Value parsers shared by the commands' arguments: counts from the command line are whole
//! numbers, and a negative one gets a message that says so (not clap's "unexpected argument").

/// A count given on the command line that is not a whole number (of at least `min`).
#[derive(Debug, thiserror::Error)]
#[error("{value:?} is not a valid count: give a whole number of at least {min}")]
pub struct CountError {
    pub value: String,
    pub min: u64,
}

fn parse(s: &str, min: u64) -> Result<u64, CountError> {
    s.trim().parse::<u64>().ok().filter(|v| *v >= min).ok_or_else(|| CountError { value: s.to_string(), min })
}

/// A count of 0 or more.
pub fn count(s: &str) -> Result<usize, CountError> {
    parse(s, 0).and_then(|v| usize::try_from(v).map_err(|_| CountError { value: s.to_string(), min: 0 }))
}

/// A count of 1 or more.
pub fn positive(s: &str) -> Result<usize, CountError> {
    parse(s, 1).and_then(|v| usize::try_from(v).map_err(|_| CountError { value: s.to_string(), min: 1 }))
}

/// A count of 1 or more that fits a u32 (cores, repeats).
pub fn positive_u32(s: &str) -> Result<u32, CountError> {
    parse(s, 1).and_then(|v| u32::try_from(v).map_err(|_| CountError { value: s.to_string(), min: 1 }))
}

/// Successive halving's eta: 2 or more (each rung keeps 1/eta of the models).
pub fn eta(s: &str) -> Result<u32, CountError> {
    parse(s, 2).and_then(|v| u32::try_from(v).map_err(|_| CountError { value: s.to_string(), min: 2 }))
}

/// Seconds, 1 or more.
pub fn seconds(s: &str) -> Result<u64, CountError> {
    parse(s, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(count("0").unwrap(), 0);
        assert_eq!(positive("12").unwrap(), 12);
        assert_eq!(positive("-1").unwrap_err().to_string(), "\"-1\" is not a valid count: give a whole number of at least 1");
        assert!(positive("0").is_err() && count("1.5").is_err() && positive_u32("4294967296").is_err());
        // Issue 33: eta's minimum is 2, and the message says so.
        assert_eq!(eta("1").unwrap_err().to_string(), "\"1\" is not a valid count: give a whole number of at least 2");
        assert_eq!(eta("-3").unwrap_err().to_string(), "\"-3\" is not a valid count: give a whole number of at least 2");
        assert_eq!(eta("3").unwrap(), 3);
    }
}
