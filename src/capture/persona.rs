//! The shopper's identity: name, email, address and phone typed beside the canary card number.
//!
//! Like the canary, it is drawn afresh for every scan from realistic values (a few dozen first
//! and family names, streets and towns of one country, so that shipping and tax stay the same)
//! so that a skimmer cannot stay dormant for the monitor's one "Jane Doe". None of it is part of
//! what is compared: fields typed are named by selector, never by value.

use rand::seq::IndexedRandom;
use rand::Rng;

const GIVEN: [&str; 16] = [
    "Jane", "Aoife", "Sarah", "Emma", "Niamh", "Laura", "Claire", "Maria", "John", "Conor", "David", "Patrick",
    "Michael", "Sean", "Mark", "Liam",
];
const FAMILY: [&str; 16] = [
    "Doe", "Murphy", "Kelly", "Byrne", "Ryan", "Walsh", "O'Brien", "Doyle", "Kennedy", "Lynch", "Murray", "Quinn",
    "Moore", "McCarthy", "Brennan", "Nolan",
];
const STREETS: [&str; 10] = [
    "Harbour Road",
    "Main Street",
    "Church Road",
    "Mill Lane",
    "Seaview Terrace",
    "Oak Park",
    "Station Road",
    "Castle Avenue",
    "Green Lane",
    "Abbey Street",
];
/// Town and a matching Eircode routing key.
const TOWNS: [(&str, &str); 6] = [
    ("Dublin", "D02"),
    ("Dublin", "D04"),
    ("Cork", "T12"),
    ("Galway", "H91"),
    ("Limerick", "V94"),
    ("Kilkenny", "R95"),
];
const MAIL_DOMAINS: [&str; 5] = ["gmail.com", "outlook.com", "yahoo.com", "icloud.com", "eircom.net"];

/// One scan's shopper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persona {
    pub given: String,
    pub family: String,
    pub email: String,
    pub street: String,
    pub postal: String,
    pub city: String,
    pub tel: String,
}

/// The persona's country (the towns are Irish): ISO code, three-letter code and name, as
/// country `select`s offer it.
pub const COUNTRY: [&str; 3] = ["IE", "IRL", "Ireland"];

impl Persona {
    /// A fresh shopper.
    pub fn generate() -> Persona {
        let mut rng = rand::rng();
        let given = GIVEN.choose(&mut rng).copied().unwrap_or("Jane").to_string();
        let family = FAMILY.choose(&mut rng).copied().unwrap_or("Doe").to_string();
        let (city, key) = TOWNS.choose(&mut rng).copied().unwrap_or(("Dublin", "D02"));
        let letters = b"ACDEFHKNPRTVWXY";
        let unique: String = (0..2).map(|_| char::from(letters[rng.random_range(0..letters.len())])).collect();
        let local: String = family.to_ascii_lowercase().chars().filter(|c| c.is_ascii_alphabetic()).collect();
        Persona {
            email: format!(
                "{}.{local}{}@{}",
                given.to_ascii_lowercase(),
                rng.random_range(1..100u8),
                MAIL_DOMAINS.choose(&mut rng).copied().unwrap_or("gmail.com")
            ),
            street: format!(
                "{} {}",
                rng.random_range(1..120u8),
                STREETS.choose(&mut rng).copied().unwrap_or("Main Street")
            ),
            postal: format!("{key} {unique}{:02}", rng.random_range(10..100u8)),
            city: city.to_string(),
            tel: format!("+353 {} 555 {:04}", rng.random_range(1..10u8), rng.random_range(100..10000u16)),
            given,
            family,
        }
    }

    /// Given and family name, as typed into a "name on card" field.
    pub fn name(&self) -> String {
        format!("{} {}", self.given, self.family)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shoppers_vary_and_look_real() {
        let all: Vec<Persona> = (0..50).map(|_| Persona::generate()).collect();
        let names: std::collections::BTreeSet<String> = all.iter().map(Persona::name).collect();
        assert!(names.len() > 20, "{names:?}");
        for p in &all {
            assert!(p.email.contains('@') && p.email.is_ascii(), "{}", p.email);
            assert!(p.tel.starts_with("+353 "));
            assert_eq!(p.postal.len(), 8, "{}", p.postal);
        }
    }
}
