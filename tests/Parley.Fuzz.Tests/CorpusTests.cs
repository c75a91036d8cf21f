using Parley.Fuzz;

namespace Parley.Fuzz.Tests;

/// <summary>
/// Every input of the fuzzing corpus (fuzz/corpus: the seeds and every input that once crashed a decoder) through its
/// target, without the fuzzer: a regression input fails here as it did under AFL++.
/// </summary>
public sealed class CorpusTests
{
    private static readonly string Corpus = Path.Combine(AppContext.BaseDirectory, "corpus");

    public static TheoryData<string, string> Inputs()
    {
        var inputs = new TheoryData<string, string>();
        foreach (var target in FuzzTargets.All.Keys)
        {
            foreach (var file in Directory.EnumerateFiles(Path.Combine(Corpus, target)).Order(StringComparer.Ordinal))
            {
                inputs.Add(target, Path.GetFileName(file));
            }
        }
        return inputs;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public async Task Input_is_handled(string target, string file)
    {
        await FuzzTargets.All[target](await File.ReadAllBytesAsync(Path.Combine(Corpus, target, file)));
    }

    [Fact]
    public void Every_target_has_a_corpus_and_every_corpus_a_target()
    {
        Assert.Equal(FuzzTargets.All.Keys.Order(StringComparer.Ordinal), Directory.EnumerateDirectories(Corpus).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.All(FuzzTargets.All.Keys, target => Assert.NotEmpty(Directory.EnumerateFiles(Path.Combine(Corpus, target))));
    }
}
