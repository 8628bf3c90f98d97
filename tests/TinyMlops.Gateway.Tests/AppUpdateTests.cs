using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using TinyMlops.Registry;
using TinyMlops.Releases;
using TinyMlops.TestBed;
using Xunit;

namespace TinyMlops.Gateway.Tests;

/// <summary>
/// The gateway application updates itself, as real processes under the service file's start rules (the boot check
/// script before every start, the gateway through the <c>current</c> link, restarted whenever it exits): a signed
/// bundle released with <c>tinymlops release-app</c> is installed beside the running one, switched to, kept once it
/// stayed healthy; a bundle that cannot start is switched back by the boot check after its third failed start, and
/// the previous application refuses that release for good and reports why.
/// </summary>
public class AppUpdateTests
{
    private const string Runtime = "linux-x64";

    [Fact]
    public async Task A_new_application_is_installed_beside_the_running_one_and_one_that_cannot_start_is_rolled_back()
    {
        await using ReleaseBed bed = await ReleaseBed.Start("app-update");
        (string root, string registryDir, WebApplication trainer, string gatewayDir) = (bed.Root, bed.RegistryDir, bed.Trainer, bed.GatewayDir);

        // What an install from the README leaves: release 0.1.0 unpacked under releases/, `current` linking to it,
        // and the boot check beside them.
        string publish = PublishFolder(Path.Combine(root, "publish"));
        string install = Path.Combine(root, "opt");
        string first = Path.Combine(install, "releases", "0.1.0-0");
        CopyTree(publish, first);
        File.WriteAllBytes(Path.Combine(first, AppBundle.InfoFile), JsonSerializer.SerializeToUtf8Bytes(new AppBundleInfo("0.1.0", Runtime)));
        File.CreateSymbolicLink(Path.Combine(install, "current"), "releases/0.1.0-0");
        string boot = Path.Combine(install, "tinymlops-gateway-boot");
        File.Copy(Path.Combine(Boards.Checkout.FindRoot(), "gateway", "deploy", "tinymlops-gateway-boot"), boot);

        int http = Harness.FreePort();
        Dictionary<string, string?> settings = RunningGateway.Settings(gatewayDir, Harness.FreePort(), http, bed.TrainerUrl);
        ReleaseUpdateTests.TakeReleases(settings, root, minShadowWindows: 20);
        settings["Urls"] = $"http://127.0.0.1:{http}";
        settings["Gateway:App:InstallRoot"] = install;
        settings["Gateway:App:Runtime"] = Runtime;
        settings["Gateway:App:TrialSeconds"] = "2";
        settings["Gateway:App:TrialDeadlineSeconds"] = "30";
        settings["Logging:LogLevel:Default"] = "Information";
        await using ServiceManagerStandIn service = ServiceManagerStandIn.Start(boot, install, limit: 3, settings, http);
        await Harness.Eventually(() => AppVersion(service), v => v == "0.1.0", "0.1.0 up", seconds: 60);

        // Release 1: 0.1.1, released by the CLI. Installed beside 0.1.0, switched to, and kept once healthy.
        int channel = GatewayAppChannels.Of(Runtime);
        Assert.Equal(0, Cli.Program.Main(["release-app", "--bundle", publish, "--version", "0.1.1", "--runtime", Runtime, "--registry", registryDir, "--keys", Path.Combine(root, "keys")]));
        await Harness.Eventually(() => Task.FromResult(Progress(registryDir, 1, channel, service)), s => s.Contains("[running]"), "0.1.1 kept", seconds: 90);
        Assert.Equal(["verified", "downloaded", "switched", "running"], ReleaseUpdateTests.Steps(registryDir, 1, channel));
        Assert.Equal("0.1.1", await AppVersion(service));
        Assert.Equal("releases/0.1.1-1", new FileInfo(Path.Combine(install, "current")).LinkTarget);
        Assert.False(Directory.Exists(Path.Combine(install, "trial")));
        Assert.True(Directory.Exists(first), "the previous application stays until the next update");
        Assert.Equal(0, service.ExitCodes.Single()); // 0.1.0 stopped cleanly to hand over

        // Release 2: 0.1.2 whose entry assembly is damaged. It fails every start; after the third the boot check
        // switches back, and 0.1.1 refuses release 2 for good.
        string broken = Path.Combine(root, "broken");
        CopyTree(publish, broken);
        File.WriteAllBytes(Path.Combine(broken, AppBundle.EntryAssembly), new byte[4096]);
        Assert.Equal(0, Cli.Program.Main(["release-app", "--bundle", broken, "--version", "0.1.2", "--runtime", Runtime, "--registry", registryDir, "--keys", Path.Combine(root, "keys")]));
        await Harness.Eventually(() => Task.FromResult(Progress(registryDir, 2, channel, service)), s => s.Contains("[rolled_back]"), "0.1.2 rolled back", seconds: 120);
        Assert.Contains("did not come up in 3 starts", ReleaseUpdateTests.Detail(registryDir, 2, "rolled_back", channel));
        await Harness.Eventually(() => AppVersion(service), v => v == "0.1.1", "0.1.1 up again", seconds: 60);
        Assert.Equal("releases/0.1.1-1", new FileInfo(Path.Combine(install, "current")).LinkTarget);
        Assert.False(Directory.Exists(Path.Combine(install, "releases", "0.1.2-2")), "the failed bundle is removed");
        Assert.False(Directory.Exists(Path.Combine(install, "rolled-back")));
        Assert.Equal(3, service.ExitCodes.Skip(2).Count(c => c != 0)); // three failed starts of 0.1.2, after 0.1.0's and 0.1.1's handovers
        Assert.True(service.ExitCodes[1] == 0, service.Journal);

        // Refused for good: later polls do not fetch it again.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Single(ReleaseUpdateTests.Steps(registryDir, 2, channel), s => s == "verified");
        await trainer.StopAsync();
    }

    /// <summary>The gateway's build for this machine's runtime: its output with only this runtime's native libraries.</summary>
    private static string PublishFolder(string target)
    {
        string configuration = Path.GetFileName(Path.GetDirectoryName(AppContext.BaseDirectory.TrimEnd('/'))!)!;
        string build = Path.Combine(Boards.Checkout.FindRoot(), "gateway", "TinyMlops.Gateway", "bin", configuration, "net10.0");
        CopyTree(build, target, relative => !relative.StartsWith("runtimes/", StringComparison.Ordinal)
            || relative.StartsWith($"runtimes/{Runtime}/", StringComparison.Ordinal) || relative.StartsWith("runtimes/unix/", StringComparison.Ordinal));
        return target;
    }

    private static void CopyTree(string from, string to, Func<string, bool>? take = null)
    {
        foreach (string file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(from, file).Replace('\\', '/');
            if (take != null && !take(relative))
            {
                continue;
            }

            string dest = Path.Combine(to, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            File.Copy(file, dest);
        }
    }

    private static string Progress(string registryDir, long sequence, int channel, ServiceManagerStandIn service) =>
        string.Concat(ReleaseUpdateTests.Steps(registryDir, sequence, channel).Select(s => $"[{s}]")) + "\n" + service.Journal + "\n" + service.Current?.Output;

    private static async Task<string> AppVersion(ServiceManagerStandIn service)
    {
        if (service.Current is not { } p)
        {
            return "between starts";
        }

        try
        {
            using var doc = JsonDocument.Parse(await p.Http.GetStringAsync("health"));
            return doc.RootElement.GetProperty("appVersion").GetString() ?? "?";
        }
        catch (Exception e) when (e is System.Net.Http.HttpRequestException or TaskCanceledException or JsonException)
        {
            return "no answer: " + e.Message;
        }
    }
}
