using Parley.Core.Crypto;

namespace Parley.Core.Tests;

public class ProofOfWorkTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    [InlineData(12)]
    public void A_solved_stamp_verifies_at_its_difficulty(int difficulty)
    {
        var challenge = ProofOfWork.Challenge("parley-test", [1, 2, 3]);
        var nonce = ProofOfWork.Solve(challenge, difficulty, CancellationToken.None);
        Assert.True(ProofOfWork.Verify(challenge, nonce, difficulty));
    }

    [Fact]
    public void A_stamp_is_bound_to_its_challenge()
    {
        var challenge = ProofOfWork.Challenge("parley-test", [1, 2, 3]);
        var nonce = ProofOfWork.Solve(challenge, 12, CancellationToken.None);
        // Another challenge accepts that nonce with probability 2^-12 per try; these are fixed inputs that do not.
        Assert.False(ProofOfWork.Verify(ProofOfWork.Challenge("parley-test", [1, 2, 4]), nonce, 12) && ProofOfWork.Verify(ProofOfWork.Challenge("parley-test", [9, 9]), nonce, 12));
    }

    [Fact]
    public void Known_answer_sha256_leading_zeros()
    {
        // SHA-256("" || nonce 0 as 8 big-endian bytes) = af5570f5a1810b7a... : first byte 0xaf has no leading zero bit.
        Assert.True(ProofOfWork.Verify([], 0, 0));
        Assert.False(ProofOfWork.Verify([], 0, 1));
    }

    [Fact]
    public void Challenge_parts_are_length_prefixed()
    {
        Assert.NotEqual(ProofOfWork.Challenge("d", [1, 2], [3]), ProofOfWork.Challenge("d", [1], [2, 3]));
    }

    [Fact]
    public void Difficulty_beyond_the_bound_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ProofOfWork.Verify([], 0, ProofOfWork.MaxDifficulty + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => ProofOfWork.Verify([], 0, -1));
    }

    [Fact]
    public void Solving_can_be_cancelled()
    {
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.Throws<OperationCanceledException>(() => ProofOfWork.Solve([1], ProofOfWork.MaxDifficulty, cancel.Token));
    }
}
