//! The ranking by meaning: one unit-length vector per indexed passage (from an embedding
//! model, see `knowledge::embeddings`), compared with the question's vector by cosine
//! similarity (a dot product, as both are unit length). An article ranks as its best passage,
//! as in the lexical ranking. Where the vectors come from is not this module's business.

/// The passages' vectors, in the index's passage order; a passage without one is skipped.
#[derive(Debug, Default)]
pub struct PassageVectors {
    dims: usize,
    /// `dims` values per passage, passage after passage; zeros where `present` is false.
    values: Vec<f32>,
    present: Vec<bool>,
}

impl PassageVectors {
    /// `vectors[n]` is passage `n`'s; vectors of another size than the first are skipped.
    pub fn new(vectors: &[Option<&[f32]>]) -> Self {
        let dims = vectors
            .iter()
            .flatten()
            .map(|v| v.len())
            .next()
            .unwrap_or(0);
        let mut values = Vec::with_capacity(dims * vectors.len());
        let mut present = Vec::with_capacity(vectors.len());
        for vector in vectors {
            match vector {
                Some(vector) if vector.len() == dims => {
                    values.extend_from_slice(vector);
                    present.push(true);
                }
                _ => {
                    values.resize(values.len() + dims, 0.0);
                    present.push(false);
                }
            }
        }
        Self {
            dims,
            values,
            present,
        }
    }

    /// Passages with a vector.
    pub fn count(&self) -> usize {
        self.present.iter().filter(|p| **p).count()
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Bytes held, roughly.
    pub fn size_bytes(&self) -> usize {
        self.values.len() * 4 + self.present.len()
    }

    /// Every passage with a vector and its similarity to `query` (which must be unit length and
    /// of the same size; another size matches nothing).
    pub fn similarities(&self, query: &[f32]) -> Vec<(u32, f32)> {
        if query.len() != self.dims || self.dims == 0 {
            return Vec::new();
        }
        self.values
            .chunks_exact(self.dims)
            .zip(&self.present)
            .enumerate()
            .filter(|(_, (_, present))| **present)
            .map(|(at, (vector, _))| {
                let dot: f32 = vector.iter().zip(query).map(|(a, b)| a * b).sum();
                (u32::try_from(at).unwrap_or(u32::MAX), dot)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_passage_is_the_most_similar_and_a_missing_vector_is_skipped() {
        let a = [1.0, 0.0];
        let b = [0.6, 0.8];
        let vectors = PassageVectors::new(&[Some(&a), None, Some(&b)]);
        assert_eq!(vectors.count(), 2);
        let mut found = vectors.similarities(&[0.0, 1.0]);
        found.sort_by(|x, y| y.1.total_cmp(&x.1));
        assert_eq!(found, vec![(2, 0.8), (0, 0.0)]);
        assert!(vectors.similarities(&[1.0, 0.0, 0.0]).is_empty());
    }
}
