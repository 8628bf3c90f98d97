using System.Collections.Generic;
using System.Globalization;
using System.IO;

namespace TinyMlops.TestBed;

/// <summary>Settings of a gateway process that takes its releases from a trainer service and relays them to its nodes.</summary>
public static class GatewaySettings
{
    /// <summary>
    /// Gateway <paramref name="id"/> keeping everything in <paramref name="folder"/> (nodes.json, node-keys.json,
    /// trainer.credential, verifier.onnx), answering HTTP on <paramref name="httpPort"/>, hosting its broker on
    /// <paramref name="mqttPort"/> (or joining the one at <paramref name="externalHost"/>), polling
    /// <paramref name="trainerUrl"/> every few seconds for releases of <paramref name="boardClass"/> signed under
    /// <paramref name="rootKeyFile"/>, with short retry, probation and node time-outs for a run of minutes.
    /// </summary>
    public static Dictionary<string, string?> TakingReleases(string id, string folder, int httpPort, int mqttPort, string trainerUrl, string rootKeyFile, int boardClass, string? externalHost = null) => new()
    {
        ["Urls"] = $"http://127.0.0.1:{httpPort}",
        ["Gateway:GatewayId"] = id,
        ["Gateway:Board"] = "rpi4",
        ["Gateway:DataDirectory"] = folder,
        ["Gateway:NodesFile"] = Path.Combine(folder, "nodes.json"),
        ["Gateway:Mqtt:Mode"] = externalHost == null ? "Embedded" : "External",
        ["Gateway:Mqtt:Host"] = externalHost ?? "127.0.0.1",
        ["Gateway:Mqtt:Port"] = mqttPort.ToString(CultureInfo.InvariantCulture),
        ["Gateway:Verifier:ModelFile"] = Path.Combine(folder, "verifier.onnx"),
        ["Gateway:Uplink:TrainerUrl"] = trainerUrl,
        ["Gateway:Uplink:CredentialFile"] = Path.Combine(folder, "trainer.credential"),
        ["Gateway:Releases:RootKeyFile"] = rootKeyFile,
        ["Gateway:Releases:Vendor"] = "acme",
        ["Gateway:Releases:BoardClass"] = boardClass.ToString(CultureInfo.InvariantCulture),
        ["Gateway:Releases:PollWaitSeconds"] = "2",
        ["Gateway:Releases:MaxRetrySeconds"] = "2",
        ["Gateway:Releases:MinShadowWindows"] = "10",
        ["Gateway:Releases:NodeKeysFile"] = Path.Combine(folder, "node-keys.json"),
        ["Gateway:Releases:NodeTimeoutSeconds"] = "5",
        ["Gateway:Releases:RolloutSyncSeconds"] = "1",
        ["Gateway:Releases:ProbationEvents"] = "20",
        ["Gateway:Releases:ProbationSeconds"] = "5",
        ["Gateway:Alarms:Driver"] = "simulated",
        ["Logging:LogLevel:Default"] = "Warning",
    };
}
