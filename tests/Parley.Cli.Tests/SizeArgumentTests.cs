namespace Parley.Cli.Tests;

/// <summary>The sizes `parley files limit` takes.</summary>
public sealed class SizeArgumentTests
{
    [Theory]
    [InlineData("1048576", 1048576L)]
    [InlineData("500K", 500L * 1024)]
    [InlineData("200 MiB", 200L * 1024 * 1024)]
    [InlineData("2g", 2L * 1024 * 1024 * 1024)]
    [InlineData("64b", 64L)]
    public void A_size_is_bytes_with_binary_units(string text, long bytes) => Assert.Equal(bytes, ChatCommands.ParseSize(text));

    [Theory]
    [InlineData("")]
    [InlineData("M")]
    [InlineData("-5M")]
    [InlineData("1.5G")]
    [InlineData("10 parsecs")]
    [InlineData("99999999999G")]
    public void Anything_else_is_not_a_size(string text) => Assert.Null(ChatCommands.ParseSize(text));
}
