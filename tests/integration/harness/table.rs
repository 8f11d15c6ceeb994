//! A CSV table as a user reads it (exp-summary's output): its header and
//! records, a cell by row key and column, and the checks every summary
//! must pass.

use std::collections::BTreeSet;

/// A CSV file as a user reads it: the header and the records.
#[derive(Debug)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn parse(text: &str) -> Table {
        let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
        let header = reader.headers().expect("a header").iter().map(str::to_string).collect();
        let rows = reader
            .records()
            .map(|record| record.expect("a CSV record").iter().map(str::to_string).collect())
            .collect();
        Table { header, rows }
    }

    /// The cell of config `name` (first column) under `column`.
    pub fn cell(&self, name: &str, column: &str) -> &str {
        let index = self.index(column);
        let row =
            self.rows.iter().find(|row| row[0] == name).unwrap_or_else(|| panic!("no row {name}: {self:?}"));
        &row[index]
    }

    /// The cell of row `row` (0 the first after the header) under `column`.
    pub fn at(&self, row: usize, column: &str) -> &str {
        &self.rows.get(row).unwrap_or_else(|| panic!("no row {row}: {self:?}"))[self.index(column)]
    }

    /// Where `column` is in the header.
    pub fn index(&self, column: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == column)
            .unwrap_or_else(|| panic!("no column {column:?} in {:?}", self.header))
    }

    pub fn names(&self) -> Vec<&str> {
        self.rows.iter().map(|row| row[0].as_str()).collect()
    }

    /// Every header is non-blank and unique, and every row has one cell per header.
    pub fn assert_well_formed(&self) {
        assert!(self.header.iter().all(|h| !h.is_empty()), "a blank header: {:?}", self.header);
        let unique: BTreeSet<&String> = self.header.iter().collect();
        assert_eq!(unique.len(), self.header.len(), "duplicate headers: {:?}", self.header);
        for row in &self.rows {
            assert_eq!(row.len(), self.header.len(), "{row:?} under {:?}", self.header);
        }
    }
}
