using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Threading.Tasks;
using MQTTnet;
using TinyMlops.TestBed;
using TinyMlops.Firmware.Core.Wire;
using Xunit;
using Xunit.Abstractions;

namespace TinyMlops.Gateway.Tests;

/// <summary>Runs only where an arm64 binary can run: natively, or through qemu-user-static and an arm64 C library.</summary>
public sealed class Arm64FactAttribute : FactAttribute
{
    public Arm64FactAttribute()
    {
        if (RaspberryPiBuildTests.Launcher() == null)
        {
            Skip = "cannot run linux-arm64 binaries here: needs qemu-user-static and the arm64 libraries a Raspberry Pi OS has "
                + "(dpkg --add-architecture arm64; apt-get install libc6:arm64 libstdc++6:arm64 libssl3:arm64; .ci/run does this)";
        }
    }
}

public class RaspberryPiBuildTests(ITestOutputHelper output)
{
    /// <summary>Debian multiarch: where the arm64 libraries go, beside the host's.</summary>
    private static readonly string[] Arm64Libraries = { "/lib/ld-linux-aarch64.so.1", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libssl.so.3" };

    /// <summary>How to start an arm64 program here (empty: directly), or null when it cannot run.</summary>
    internal static string[]? Launcher()
    {
        if (RuntimeInformation.OSArchitecture == Architecture.Arm64)
        {
            return Array.Empty<string>();
        }

        string? qemu = MosquittoTests.Find("qemu-aarch64-static") ?? MosquittoTests.Find("qemu-aarch64");
        return qemu != null && Arm64Libraries.All(l => File.Exists(l) || File.Exists(l.Replace("/usr/lib/", "/lib/", StringComparison.Ordinal))) ? new[] { qemu } : null;
    }

    /// <summary>
    /// The command that runs an arm64 program on this machine. Under qemu the CPU is a Cortex-A72 (a Raspberry Pi 4)
    /// and the program sees a Pi 4 <c>/proc/cpuinfo</c>: qemu 7 passes the host's x86 one through, which ONNX
    /// Runtime's CPU detection (pytorch/cpuinfo) cannot parse and then crashes on. qemu looks an absolute path up
    /// under <c>-L</c> first and falls back to the real one, so a folder holding only <c>proc/cpuinfo</c> does it,
    /// with no mount and no root.
    /// </summary>
    internal static List<string> Arm64Command(string work)
    {
        string[] launcher = Launcher() ?? throw new InvalidOperationException("no way to run arm64 binaries here");
        if (launcher.Length == 0)
        {
            return new List<string>();
        }

        string root = Path.Combine(work, "arm64-root");
        Directory.CreateDirectory(Path.Combine(root, "proc"));
        var cpuinfo = new StringBuilder();
        for (int cpu = 0; cpu < PossibleCpus(); cpu++)
        {
            cpuinfo.Append($"processor\t: {cpu}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n")
                .Append("CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n");
        }

        cpuinfo.Append("Hardware\t: BCM2835\nRevision\t: c03111\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n");
        File.WriteAllText(Path.Combine(root, "proc", "cpuinfo"), cpuinfo.ToString());
        return new List<string> { launcher[0], "-cpu", "cortex-a72", "-L", root };
    }

    /// <summary>How many processors the kernel says are possible ("0-1" → 2): cpuinfo expects one entry for each.</summary>
    private static int PossibleCpus()
    {
        try
        {
            string last = File.ReadAllText("/sys/devices/system/cpu/possible").Trim().Split(',')[^1].Split('-')[^1];
            return int.Parse(last, System.Globalization.CultureInfo.InvariantCulture) + 1;
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return Environment.ProcessorCount;
        }
    }

    [Arm64Fact]
    public async Task The_self_contained_linux_arm64_build_runs_and_verifies_an_event()
    {
        string work = Harness.Temp("arm64");
        try
        {
            string app = await Publish(work);
            Assert.Equal("aarch64", ElfMachine(Path.Combine(app, "tinymlops-gateway")));
            foreach (string native in new[] { "libonnxruntime.so", "libe_sqlite3.so", "libcoreclr.so" })
            {
                Assert.Equal("aarch64", ElfMachine(Path.Combine(app, native)));
            }

            Assert.True(File.Exists(Path.Combine(app, "boards", "rpi4.json")), "the board profiles must ship with the gateway");

            string data = Path.Combine(work, "data");
            Directory.CreateDirectory(data);
            RunningGateway.Prepare(data);
            int mqtt = Harness.FreePort(), http = Harness.FreePort();
            Dictionary<string, string?> settings = RunningGateway.Settings(data, mqtt, http);
            settings["Gateway:Verifier:ReloadCheckSeconds"] = "5";
            List<string> command = Arm64Command(work);
            command.Add(Path.Combine(app, "tinymlops-gateway"));
            using GatewayProcess gateway = GatewayProcess.Start(settings, http, command);
            try
            {
                var clock = Stopwatch.StartNew();
                string health = await gateway.WaitHealthy(seconds: 300);
                output.WriteLine($"arm64 gateway healthy after {clock.Elapsed.TotalSeconds:F1} s: {health}");
                Assert.Equal(1, JsonDocument.Parse(health[(health.IndexOf(' ') + 1)..]).RootElement.GetProperty("verifierVersion").GetInt64());

                // One event through the arm64 build's broker, store and ONNX Runtime, answered on the node's downlink.
                using IMqttClient node = await Harness.ConnectNode(mqtt, "node-1");
                BlockingCollection<VerdictMessage> verdicts = await Harness.Verdicts(node, "node-1");
                clock.Restart();
                Assert.True((await Harness.Publish(node, "tinymlops/node-1/up/event", Harness.EventFrame(1, 0.8f))).IsSuccess);
                Assert.True(verdicts.TryTake(out VerdictMessage? verdict, TimeSpan.FromSeconds(120)), "no verdict from the arm64 gateway");
                output.WriteLine($"verdict {verdict!.Label} p={verdict.Probability:F3} after {clock.Elapsed.TotalMilliseconds:F0} ms (emulated)");
                Assert.Equal(("imbalance", true, 1u, 1u), (verdict.Label, verdict.IsFault, verdict.EventSequence, verdict.VerifierVersion));
            }
            catch (Exception)
            {
                output.WriteLine(gateway.Output);
                throw;
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>
    /// <c>dotnet publish -r linux-arm64 --self-contained</c> of the gateway, as gateway/README.md tells, into
    /// <paramref name="work"/>; intermediate files go there too so the repository's own build is left alone.
    /// </summary>
    private async Task<string> Publish(string work)
    {
        string project = Path.Combine(Boards.Checkout.FindRoot(), "gateway", "TinyMlops.Gateway", "TinyMlops.Gateway.csproj");
        string folder = Path.Combine(work, "publish");
        var clock = Stopwatch.StartNew();
        (int exit, string stdout, string stderr) = await Harness.Dotnet(TimeSpan.FromMinutes(10),
            "publish", project, "-c", "Release", "-r", "linux-arm64", "--self-contained", "--artifacts-path", Path.Combine(work, "artifacts"), "-o", folder, "-nologo");
        Assert.True(exit == 0, $"dotnet publish -r linux-arm64 failed:\n{stdout}\n{stderr}");
        output.WriteLine($"published for linux-arm64 in {clock.Elapsed.TotalSeconds:F1} s");
        return folder;
    }

    /// <summary>The ELF header's machine field: 0xB7 is AArch64.</summary>
    private static string ElfMachine(string path)
    {
        byte[] head = new byte[20];
        using (FileStream f = File.OpenRead(path))
        {
            f.ReadExactly(head);
        }

        Assert.True(head[0] == 0x7F && head[1] == (byte)'E' && head[2] == (byte)'L' && head[3] == (byte)'F', $"{path} is not an ELF file");
        return BitConverter.ToUInt16(head, 18) switch
        {
            0xB7 => "aarch64",
            0x3E => "x86-64",
            ushort m => $"machine 0x{m:X}",
        };
    }
}
