use super::{SumcheckError, SumcheckProof, interpolate_uni};
use crate::field::EF;
use crate::transcript::Transcript;

/// Verifies a sumcheck of `num_vars` rounds and degree `degree` for `claimed_sum`.
/// Returns the point (MSB-first) and the claimed value of the summand at that point.
///
/// # Errors
/// [`SumcheckError`] when the round count or a round's degree differs from the statement.
/// A wrong sum is caught by the caller's final check on the returned claim.
pub fn verify(
    claimed_sum: EF,
    num_vars: usize,
    degree: usize,
    proof: &SumcheckProof,
    t: &mut Transcript,
) -> Result<(Vec<EF>, EF), SumcheckError> {
    if proof.rounds.len() != num_vars {
        return Err(SumcheckError::WrongRoundCount {
            expected: num_vars,
            got: proof.rounds.len(),
        });
    }
    let mut claim = claimed_sum;
    let mut point = Vec::with_capacity(num_vars);
    for (round, msg) in proof.rounds.iter().enumerate() {
        if msg.len() != degree {
            return Err(SumcheckError::WrongDegree {
                round,
                expected: degree,
                got: msg.len(),
            });
        }
        t.absorb_ext(msg);
        let r = t.sample();
        // evaluations at 0, 1, 2, ..., degree
        let mut evals = Vec::with_capacity(degree + 1);
        evals.push(msg[0]);
        evals.push(claim - msg[0]);
        evals.extend_from_slice(&msg[1..]);
        claim = interpolate_uni(&evals, r);
        point.push(r);
    }
    Ok((point, claim))
}
