using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using TinyMlops.NanoApiCheck;
using Xunit;

namespace TinyMlops.Firmware.Tests;

/// <summary>
/// Device code may use only what the nanoFramework listings in ../shared/nanoframework-api hold, and only the
/// nanoFramework 1.x subset of C#. Each device project is compiled against reference declarations generated from
/// the listings alone.
/// </summary>
public class NanoApiCheckTests
{
    private static readonly Lazy<NanoApiChecker> Checker = new(() =>
    {
        string listings = Path.Combine(Repo.Shared, "nanoframework-api");
        Assert.True(Directory.Exists(listings), $"{listings} is missing: the API check needs ../shared beside the repository");
        return new NanoApiChecker(listings);
    });

    // nanoFramework's own mscorlib (package nanoFramework.CoreLibrary 1.17.11, copied beside the tests by the
    // NanoApiCheck project), with only the other assemblies generated from the listings.
    private static readonly Lazy<NanoApiChecker> RealCore = new(() =>
    {
        string mscorlib = Path.Combine(AppContext.BaseDirectory, "nanoFramework", "mscorlib.dll");
        Assert.True(File.Exists(mscorlib), $"{mscorlib} is missing: it comes from the nanoFramework.CoreLibrary package");
        return NanoApiChecker.WithRealCoreLibrary(Path.Combine(Repo.Shared, "nanoframework-api"), mscorlib);
    });

    private static IEnumerable<string> Sources(string relative) =>
        Directory.GetFiles(Path.Combine(Repo.Root, relative), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .OrderBy(f => f, StringComparer.Ordinal);

    private static void AssertClean(IEnumerable<string> files, string packagesConfig)
    {
        string[] list = files.ToArray();
        Assert.NotEmpty(list);
        IReadOnlyList<string> problems = Checker.Value.Check(list, Path.Combine(Repo.Root, packagesConfig));
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    private static void AssertCleanOnRealCore(IEnumerable<string> files)
    {
        IReadOnlyList<string> problems = RealCore.Value.Check(files.ToArray());
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void The_other_assemblies_declarations_compile_against_the_real_mscorlib() => Assert.Empty(RealCore.Value.StubErrors);

    [Fact]
    public void Portable_core_compiles_against_the_real_mscorlib() => AssertCleanOnRealCore(Sources("firmware/Core"));

    [Fact]
    public void Device_tests_compile_against_the_real_mscorlib() =>
        AssertCleanOnRealCore(Sources("firmware/Core").Concat(Sources("tests/Shared")).Concat(Sources("firmware/NFUnitTest")));

    [Fact]
    public void Device_app_compiles_against_the_real_mscorlib() =>
        AssertCleanOnRealCore(Sources("firmware/Core").Concat(Sources("firmware/App")));

    [Fact]
    public void The_real_mscorlib_check_bites()
    {
        string file = Path.Combine(Path.GetTempPath(), "nanocore-" + Guid.NewGuid().ToString("N") + ".cs");
        File.WriteAllText(file, """
            namespace Probe
            {
                public class Bad
                {
                    public object A() { return System.Tuple.Create(1, 2); }
                    public string B() { return System.String.Join(",", new System.Collections.Generic.List<string>()); }
                }
            }
            """);
        try
        {
            string all = string.Join("\n", RealCore.Value.Check(new[] { file }));
            Assert.Contains("Tuple", all);
            Assert.Contains("Generic", all);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Reference_declarations_generated_from_the_listings_compile()
    {
        Assert.Empty(Checker.Value.StubErrors);
        Assert.True(Checker.Value.Listing.Types.Count > 400);
        Assert.Contains("nanoFramework.M2Mqtt.MqttClient", Checker.Value.Listing.Types.Keys);
        Assert.Equal("nanoFramework.Iot.Device.Mpu9250", Checker.Value.Listing.PackageOfAssembly["Iot.Device.Mpu9250"]);
    }

    [Fact]
    public void Portable_core_uses_only_the_nanoFramework_API() =>
        AssertClean(Sources("firmware/Core"), "firmware/Core.Nano/packages.config");

    [Fact]
    public void Device_app_uses_only_the_nanoFramework_API() =>
        AssertClean(Sources("firmware/Core").Concat(Sources("firmware/App")), "firmware/App/packages.config");

    [Fact]
    public void Device_tests_use_only_the_nanoFramework_API() =>
        AssertClean(Sources("firmware/Core").Concat(Sources("tests/Shared")).Concat(Sources("firmware/NFUnitTest")), "firmware/NFUnitTest/packages.config");

    [Fact]
    public void The_checker_catches_what_nanoFramework_lacks()
    {
        string file = Path.Combine(Path.GetTempPath(), "nanocheck-" + Guid.NewGuid().ToString("N") + ".cs");
        File.WriteAllText(file, """
            using System.Linq;
            namespace Probe
            {
                public class Bad
                {
                    public async void A() { }
                    public string B(float x) { System.Collections.Generic.List<int> l = null; return x.ToString("0.00") + System.IO.File.ReadAllLines("x"); }
                    public string C(float x) { return string.Format("{0:#.#}", x) + $"{x:0.0}"; }
                    public T D<T>(T v) { return v; }
                    public string E(nanoFramework.M2Mqtt.MqttClient c) { return c.ToString(); }
                }
            }
            """);
        try
        {
            string packages = Path.Combine(Repo.Root, "firmware/Core.Nano/packages.config");
            string all = string.Join("\n", Checker.Value.Check(new[] { file }, packages));
            Assert.Contains("System.Linq", all);
            Assert.Contains("async", all);
            Assert.Contains("generics", all);
            Assert.Contains("ReadAllLines", all);
            Assert.Contains("\"0.00\"", all);
            Assert.Contains("\"#.#\"", all);
            Assert.Contains("\"0.0\"", all);
            Assert.Contains("nanoFramework.M2Mqtt", all); // the core's packages.config does not list M2Mqtt
        }
        finally
        {
            File.Delete(file);
        }
    }
}
