//! Counts by key in a fixed order: the order the report lists its categories in (bands
//! from the shortest, reasons and destinations in their code set's order), kept in JSON
//! objects and CSV columns alike. A `BTreeMap` would sort `14-20` before `2-3`.

use serde::ser::{Serialize, SerializeMap, Serializer};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keyed<T>(Vec<(String, T)>);

/// Whole numbers by key.
pub type Counts = Keyed<i64>;

impl<T: Copy + Default + std::ops::AddAssign> Keyed<T> {
    /// Every key at zero, in the given order.
    pub fn zeros<K: Into<String>>(keys: impl IntoIterator<Item = K>) -> Self {
        Keyed(keys.into_iter().map(|k| (k.into(), T::default())).collect())
    }

    /// Adds to a key; a key not listed is added at the end (so nothing is ever lost).
    pub fn add(&mut self, key: &str, n: T) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v += n,
            None => self.0.push((key.to_string(), n)),
        }
    }

    pub fn get(&self, key: &str) -> T {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| *v)
            .unwrap_or_default()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    pub fn values(&self) -> impl Iterator<Item = T> + '_ {
        self.0.iter().map(|(_, v)| *v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, T)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Adds every count of `other` to this one.
    pub fn add_all(&mut self, other: &Self) {
        for (k, v) in other.iter() {
            self.add(k, v);
        }
    }
}

impl Counts {
    pub fn sum(&self) -> i64 {
        self.values().sum()
    }
}

impl<T: Serialize> Serialize for Keyed<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_order_in_json() {
        let mut c = Counts::zeros(["0", "1", "2-3", "14-20", "21+"]);
        c.add("14-20", 2);
        c.add("0", 1);
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"0":1,"1":0,"2-3":0,"14-20":2,"21+":0}"#
        );
        assert_eq!(c.sum(), 3);
        c.add("new", 1);
        assert_eq!(c.keys().last(), Some("new"));
    }
}
