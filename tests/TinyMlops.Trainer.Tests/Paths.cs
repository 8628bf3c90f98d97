using System;
using System.IO;

namespace TinyMlops.Trainer.Tests;

/// <summary>Repository and ../shared paths.</summary>
internal static class Paths
{
    public static string Root { get; } = Boards.Checkout.FindRoot();

    public static string Fan => Path.Combine(Root, "data", "uci-accelerometer-fan");

    /// <summary>The ADI recordings; they may not ship, so they are read from ../shared (CI has it).</summary>
    public static string Adi
    {
        get
        {
            string dir = Path.GetFullPath(Path.Combine(Root, "..", "shared", "datasets", "adi_cbm_adxl356_00lb"));
            if (!Directory.Exists(dir))
            {
                throw new DirectoryNotFoundException($"{dir} is missing: the ADI recordings are read from ../shared/datasets beside the repository");
            }

            return dir;
        }
    }

    public static string Temp(string what) => Path.Combine(Path.GetTempPath(), $"tinymlops-{what}-{Guid.NewGuid():N}");
}
