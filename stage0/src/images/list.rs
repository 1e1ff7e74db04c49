//! The rows of `rkt image list`: one per stored image, with the size of its blob plus its
//! rendered trees (measured now, so a tree gc'd or rendered since import is counted right).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::str::FromStr;

use crate::store::Store;

use super::ImagesError;

/// One image as `image list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRow {
    /// The store key (`sha512-` + 64 hex).
    pub key: String,
    /// The image name, with `:version` when the image has a version label.
    pub name: String,
    /// Bytes of the blob plus the image's rendered trees.
    pub size: u64,
    /// Unix nanoseconds.
    pub import_time: u128,
    /// Unix nanoseconds.
    pub last_used: u128,
    /// True for the newest import among the images of this name (rkt's `latest` column).
    pub latest: bool,
}

/// A column of `image list`, as `--fields` and `--sort` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Id,
    Name,
    Size,
    ImportTime,
    LastUsed,
    /// Not shown unless asked for, as in rkt.
    Latest,
}

impl Field {
    pub const ALL: [Field; 6] = [
        Field::Id,
        Field::Name,
        Field::Size,
        Field::ImportTime,
        Field::LastUsed,
        Field::Latest,
    ];

    /// The table header of this column.
    pub fn header(self) -> &'static str {
        match self {
            Field::Id => "ID",
            Field::Name => "NAME",
            Field::Size => "SIZE",
            Field::ImportTime => "IMPORT TIME",
            Field::LastUsed => "LAST USED",
            Field::Latest => "LATEST",
        }
    }

    /// The flag value and JSON key of this column.
    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Name => "name",
            Field::Size => "size",
            Field::ImportTime => "importtime",
            Field::LastUsed => "lastused",
            Field::Latest => "latest",
        }
    }
}

impl FromStr for Field {
    type Err = String;
    fn from_str(s: &str) -> Result<Field, String> {
        Field::ALL
            .into_iter()
            .find(|f| f.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                format!(
                    "unknown field {s:?}; valid fields are id, name, size, importtime, lastused, latest"
                )
            })
    }
}

/// Every stored image as a row, in import order.
pub fn list_rows(store: &Store) -> Result<Vec<ImageRow>, ImagesError> {
    let mut tree_bytes: BTreeMap<String, u64> = BTreeMap::new();
    for (tree, image) in store.trees()? {
        *tree_bytes.entry(image.trim().to_string()).or_default() += store.tree_size(&tree);
    }
    let infos = store.list()?;
    let mut newest: BTreeMap<&str, u128> = BTreeMap::new();
    for info in &infos {
        let t = newest.entry(info.name.as_str()).or_default();
        *t = (*t).max(info.import_time);
    }
    Ok(infos
        .iter()
        .map(|info| {
            let name = match info.labels.get("version") {
                Some(v) => format!("{}:{v}", info.name),
                None => info.name.clone(),
            };
            ImageRow {
                size: info.size + tree_bytes.get(&info.key).copied().unwrap_or(0),
                key: info.key.clone(),
                latest: newest.get(info.name.as_str()) == Some(&info.import_time),
                name,
                import_time: info.import_time,
                last_used: info.last_used,
            }
        })
        .collect())
}

/// Sort rows by one field (ties broken by key, so the order is stable across runs).
pub fn sort_rows(rows: &mut [ImageRow], by: Field, descending: bool) {
    rows.sort_by(|a, b| {
        let o = match by {
            Field::Id => Ordering::Equal,
            Field::Name => a.name.cmp(&b.name),
            Field::Size => a.size.cmp(&b.size),
            Field::ImportTime => a.import_time.cmp(&b.import_time),
            Field::LastUsed => a.last_used.cmp(&b.last_used),
            Field::Latest => a.latest.cmp(&b.latest),
        }
        .then_with(|| a.key.cmp(&b.key));
        if descending { o.reverse() } else { o }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(key: &str, name: &str, size: u64, t: u128) -> ImageRow {
        ImageRow {
            key: key.into(),
            name: name.into(),
            size,
            import_time: t,
            last_used: 10 - t,
            latest: false,
        }
    }

    #[test]
    fn sorts_by_each_field() {
        let mut rows = vec![
            row("k1", "b", 5, 2),
            row("k2", "a", 7, 1),
            row("k3", "c", 1, 3),
        ];
        let keys = |r: &[ImageRow]| r.iter().map(|r| r.key.clone()).collect::<Vec<_>>();
        sort_rows(&mut rows, Field::Name, false);
        assert_eq!(keys(&rows), ["k2", "k1", "k3"]);
        sort_rows(&mut rows, Field::Size, true);
        assert_eq!(keys(&rows), ["k2", "k1", "k3"]);
        sort_rows(&mut rows, Field::ImportTime, false);
        assert_eq!(keys(&rows), ["k2", "k1", "k3"]);
        sort_rows(&mut rows, Field::LastUsed, false);
        assert_eq!(keys(&rows), ["k3", "k1", "k2"]);
        sort_rows(&mut rows, Field::Id, true);
        assert_eq!(keys(&rows), ["k3", "k2", "k1"]);
    }

    #[test]
    fn parses_field_names() {
        assert_eq!("importtime".parse::<Field>(), Ok(Field::ImportTime));
        assert_eq!("LastUsed".parse::<Field>(), Ok(Field::LastUsed));
        assert_eq!("latest".parse::<Field>(), Ok(Field::Latest));
        assert!("colour".parse::<Field>().is_err());
    }
}
