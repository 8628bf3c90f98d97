using System.IO;

namespace TinyMlops.Firmware.Tests;

/// <summary>Paths inside the repository and to ../shared beside it.</summary>
internal static class Repo
{
    public static string Root { get; } = Boards.Checkout.FindRoot();

    public static string Conformance => Path.Combine(Root, "tests", "conformance");

    public static string Shared => Path.GetFullPath(Path.Combine(Root, "..", "shared"));
}
