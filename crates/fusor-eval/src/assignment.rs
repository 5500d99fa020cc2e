//! Maximum-weight bipartite assignment (Hungarian algorithm, `pathfinding::kuhn_munkres`).

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;

/// For each row of `weights` (rows × columns, integer weights ≥ 0, 0 meaning "no edge"), the
/// column assigned to it by a maximum-weight assignment, or `None`. Rows assigned to a
/// zero-weight column are reported as unassigned. Any shape works (the matrix is transposed
/// when it has more rows than columns, as `kuhn_munkres` requires).
pub(crate) fn max_weight_assignment(weights: &[Vec<i64>], columns: usize) -> Vec<Option<usize>> {
    let rows = weights.len();
    if rows == 0 || columns == 0 {
        return vec![None; rows];
    }
    let weight = |r: usize, c: usize| weights.get(r).and_then(|row| row.get(c)).copied().unwrap_or(0).max(0);
    let mut out = vec![None; rows];
    if rows <= columns {
        let mut m = Matrix::new(rows, columns, 0i64);
        for r in 0..rows {
            for c in 0..columns {
                m[(r, c)] = weight(r, c);
            }
        }
        let (_, assigned) = kuhn_munkres(&m);
        for (r, &c) in assigned.iter().enumerate() {
            if weight(r, c) > 0 {
                out[r] = Some(c);
            }
        }
    } else {
        let mut m = Matrix::new(columns, rows, 0i64);
        for c in 0..columns {
            for r in 0..rows {
                m[(c, r)] = weight(r, c);
            }
        }
        let (_, assigned) = kuhn_munkres(&m);
        for (c, &r) in assigned.iter().enumerate() {
            if weight(r, c) > 0 {
                out[r] = Some(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_assignment_with_the_largest_total_not_the_greedy_one() {
        // Greedy would take (0, 0) = 10 and leave row 1 with 1: total 11; optimal is 9 + 8 = 17.
        let w = vec![vec![10, 9], vec![8, 1]];
        assert_eq!(max_weight_assignment(&w, 2), vec![Some(1), Some(0)]);
    }

    #[test]
    fn handles_more_rows_than_columns_and_zero_edges() {
        let w = vec![vec![0], vec![5], vec![3]];
        assert_eq!(max_weight_assignment(&w, 1), vec![None, Some(0), None]);
        assert_eq!(max_weight_assignment(&[], 3), Vec::<Option<usize>>::new());
        assert_eq!(max_weight_assignment(&[vec![], vec![]], 0), vec![None, None]);
    }
}
