using System.Collections.Generic;
using System.IO;
using System;
using Microsoft.Extensions.Options;
using TinyMlops.Contracts;
using TinyMlops.Firmware.Core.Node;

namespace TinyMlops.Gateway.Configuration;

/// <summary>Where nodes connect.</summary>
public enum BrokerMode
{
    /// <summary>The gateway hosts MQTTnet's server itself (default).</summary>
    Embedded,

    /// <summary>The gateway joins a broker run elsewhere (e.g. Mosquitto) as user <see cref="MqttOptions.GatewayUser"/>.</summary>
    External,
}

/// <summary>Everything the gateway reads from <c>appsettings.json</c> section <c>Gateway</c> (and <c>Gateway__…</c> environment variables).</summary>
public sealed class GatewayOptions
{
    /// <summary>Configuration section.</summary>
    public const string Section = "Gateway";

    /// <summary>This gateway's id, sent with every uplink batch.</summary>
    public string GatewayId { get; set; } = "gateway-1";

    /// <summary>Board profile (alarm pins).</summary>
    public string Board { get; set; } = "rpi4";

    /// <summary>Folder of the SQLite store.</summary>
    public string DataDirectory { get; set; } = "/var/lib/tinymlops-gateway";

    /// <summary>Caps the store at this many 4 KiB pages (0 = only the disk limits it); beyond it the store reports full.</summary>
    public long StoreMaxPages { get; set; }

    /// <summary>
    /// Events the trainer has filed are deleted this long after they arrived, so the SD card holds a day of windows
    /// rather than filling up; events not yet forwarded are kept however old.
    /// </summary>
    public double RetainForwardedHours { get; set; } = 24;

    /// <summary>JSON file of node credentials (<see cref="NodeRegistry"/>).</summary>
    public string NodesFile { get; set; } = "/etc/tinymlops-gateway/nodes.json";

    /// <summary>MQTT settings.</summary>
    public MqttOptions Mqtt { get; set; } = new();

    /// <summary>Verifier settings.</summary>
    public VerifierOptions Verifier { get; set; } = new();

    /// <summary>Uplink settings.</summary>
    public UplinkOptions Uplink { get; set; } = new();

    /// <summary>Alarm settings.</summary>
    public AlarmOptions Alarms { get; set; } = new();

    /// <summary>HTTP settings (the listeners themselves are ASP.NET Core's <c>Urls</c>).</summary>
    public HttpOptions Http { get; set; } = new();

    /// <summary>The gateway's own wired accelerometer, run as a node of its own.</summary>
    public LocalNodeOptions LocalNode { get; set; } = new();

    /// <summary>Signed releases from the trainer.</summary>
    public ReleaseOptions Releases { get; set; } = new();

    /// <summary>Signed releases of the gateway application itself.</summary>
    public AppUpdateOptions App { get; set; } = new();
}

/// <summary>
/// The gateway application's own update: bundles unpacked under <see cref="InstallRoot"/><c>/releases</c> and switched
/// by its <c>current</c> link, which the service manager starts (see <c>deploy/tinymlops-gateway.service</c>).
/// </summary>
public sealed class AppUpdateOptions
{
    /// <summary>The folder holding <c>current</c>, <c>releases/</c> and <c>trial/</c>; empty turns application updates off.</summary>
    public string? InstallRoot { get; set; }

    /// <summary>Runtime identifier of the bundles to take; empty: this process's own (e.g. <c>linux-arm64</c>).</summary>
    public string Runtime { get; set; } = "";

    /// <summary>How long a new application must stay healthy after its start before it is kept.</summary>
    public double TrialSeconds { get; set; } = 30;

    /// <summary>How long a new application has to get there; past it, it exits non-zero so the service manager counts a failed start.</summary>
    public double TrialDeadlineSeconds { get; set; } = 180;
}

/// <summary>
/// Signed releases fetched from the trainer (<see cref="UplinkOptions.TrainerUrl"/>, with the uplink's credential):
/// on when <see cref="RootKeyFile"/> is set.
/// </summary>
public sealed class ReleaseOptions
{
    /// <summary>The trainer's root public key (<c>root.pub</c> from <c>tinymlops keys create</c>); empty turns updates off.</summary>
    public string? RootKeyFile { get; set; }

    /// <summary>Vendor id the releases must be signed for.</summary>
    public string Vendor { get; set; } = "";

    /// <summary>Board class of this gateway's nodes: the releases whose verifier it runs.</summary>
    public int BoardClass { get; set; }

    /// <summary>How long one long poll for a new release waits at the trainer (at most 60).</summary>
    public double PollWaitSeconds { get; set; } = 30;

    /// <summary>Longest wait between retries while the trainer is unreachable or a release waits for shadow windows.</summary>
    public double MaxRetrySeconds { get; set; } = 60;

    /// <summary>Recent stored windows a new verifier is run on in shadow.</summary>
    public int ShadowWindows { get; set; } = 200;

    /// <summary>Fewest windows a shadow run needs before it may promote (a quiet line waits for more).</summary>
    public int MinShadowWindows { get; set; } = 20;

    /// <summary>How long a promoted verifier has to come up before the previous one is put back.</summary>
    public double HealthCheckSeconds { get; set; } = 30;

    /// <summary>Events a promoted verifier is watched on before its release counts as healthy and goes on to the nodes.</summary>
    public int ProbationEvents { get; set; } = 50;

    /// <summary>Longest probation: a quiet line is judged on what came by then (healthy when nothing came).</summary>
    public double ProbationSeconds { get; set; } = 600;

    /// <summary>
    /// Largest rise, over the previous verifier's, in the share of events the promoted one fails on (an error or a
    /// non-finite output) before it is rolled back.
    /// </summary>
    public double MaxFailureIncrease { get; set; } = 0.02;

    /// <summary>The nodes' update keys and board classes (<see cref="Contracts.NodeKeys"/>, owner-only); empty relays nothing to nodes.</summary>
    public string? NodeKeysFile { get; set; }

    /// <summary>Model bytes per update chunk sent to a node.</summary>
    public int ChunkBytes { get; set; } = 4096;

    /// <summary>How long a node has to answer an offer or chunk before it is offered again (doubling per retry).</summary>
    public double NodeTimeoutSeconds { get; set; } = 10;

    /// <summary>Offers a node gets before it is marked failed.</summary>
    public int NodeAttempts { get; set; } = 5;

    /// <summary>How often the gateway reports its nodes to the trainer's rollout and learns which it may update.</summary>
    public double RolloutSyncSeconds { get; set; } = 5;
}

/// <summary>
/// A sensor wired to the gateway itself, run by the firmware core's node controller in this process as a node with
/// its own id: provisioned like any node (its id and password in the nodes file, its update key in a file of its own).
/// </summary>
public sealed class LocalNodeOptions
{
    /// <summary>Runs the local node.</summary>
    public bool Enabled { get; set; }

    /// <summary>Its node id (required when enabled; the gateway's reserved ids are refused).</summary>
    public string NodeId { get; set; } = "";

    /// <summary><c>adxl345</c> (SPI) or <c>mpu6050</c> (I2C); empty: the board profile's <c>sampling.sensor</c>.</summary>
    public string Sensor { get; set; } = "";

    /// <summary>File holding its MQTT password (owner-only).</summary>
    public string PasswordFile { get; set; } = "/etc/tinymlops-gateway/local-node.password";

    /// <summary>File holding its model-update HMAC key in hex (owner-only).</summary>
    public string KeyFile { get; set; } = "/etc/tinymlops-gateway/local-node.key";

    /// <summary>Seconds between its health reports.</summary>
    public int TelemetrySeconds { get; set; } = 60;
}

/// <summary>Who may use the gateway's HTTP endpoints.</summary>
public sealed class HttpOptions
{
    /// <summary>
    /// When set, <c>/metrics</c> and <c>/health</c> answer only connections to this local port (list it in <c>Urls</c>,
    /// e.g. <c>http://127.0.0.1:9100</c>), and 404 on every other; 0 serves them wherever the gateway listens.
    /// </summary>
    public int ManagementPort { get; set; }

    /// <summary>
    /// File (owner-only) of operator tokens, one per line, that <c>POST /api/labels</c> takes as
    /// <c>Authorization: Bearer {token}</c>; without it the label API is off.
    /// </summary>
    public string? OperatorTokenFile { get; set; }
}

/// <summary>MQTT settings.</summary>
public sealed class MqttOptions
{
    /// <summary>Embedded server or external broker.</summary>
    public BrokerMode Mode { get; set; } = BrokerMode.Embedded;

    /// <summary>Plain TCP port (embedded: listen; external: connect). 0 turns the embedded plain endpoint off.</summary>
    public int Port { get; set; } = 1883;

    /// <summary>Embedded: TLS port (used when <see cref="CertificateFile"/> is set).</summary>
    public int TlsPort { get; set; } = 8883;

    /// <summary>Embedded: PKCS#12 server certificate turning on the TLS endpoint.</summary>
    public string? CertificateFile { get; set; }

    /// <summary>Password of <see cref="CertificateFile"/>.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>External: broker host.</summary>
    public string Host { get; set; } = "127.0.0.1";

    /// <summary>External: connect with TLS.</summary>
    public bool UseTls { get; set; }

    /// <summary>External: CA file (PEM) that signed the broker's certificate; empty uses the system store.</summary>
    public string? CaFile { get; set; }

    /// <summary>The gateway's own MQTT user (external broker; in embedded mode the gateway does not log in).</summary>
    public string GatewayUser { get; set; } = "gateway";

    /// <summary>Password of <see cref="GatewayUser"/>.</summary>
    public string GatewayPassword { get; set; } = "";

    /// <summary>Largest payload accepted from a node, bytes (default: the wire format's largest frame); larger ones are refused and counted.</summary>
    public int MaxPayloadBytes { get; set; } = TinyMlops.Firmware.Core.Wire.WireCodec.MaxFrame;

    /// <summary>Embedded: address the listeners bind to (all interfaces by default; a node network's address to keep them off others).</summary>
    public string BindAddress { get; set; } = "0.0.0.0";

    /// <summary>Embedded: largest CONNECT packet, the only packet accepted before login.</summary>
    public int MaxConnectBytes { get; set; } = 2048;

    /// <summary>Embedded: largest packet after login (default: the largest wire frame plus topic and MQTT headers).</summary>
    public int MaxPacketBytes { get; set; } = TinyMlops.Firmware.Core.Wire.WireCodec.MaxFrame + 1024;

    /// <summary>Embedded: connections that may wait to log in at once; more are closed on accept.</summary>
    public int MaxPendingConnections { get; set; } = 64;

    /// <summary>Embedded: seconds a connection has to finish TLS and log in.</summary>
    public double ConnectTimeoutSeconds { get; set; } = 10;
}

/// <summary>Verifier settings.</summary>
public sealed class VerifierOptions
{
    /// <summary>The ONNX verifier; replaced in place (write-then-rename) to install a new version.</summary>
    public string ModelFile { get; set; } = "/var/lib/tinymlops-gateway/models/verifier.onnx";

    /// <summary>How often the model file is checked for a new version.</summary>
    public double ReloadCheckSeconds { get; set; } = 2;

    /// <summary>Largest batch of pending windows verified in one run.</summary>
    public int MaxBatch { get; set; } = 32;
}

/// <summary>Uplink settings.</summary>
public sealed class UplinkOptions
{
    /// <summary>Base address of the trainer's ingestion service; empty keeps everything local.</summary>
    public string? TrainerUrl { get; set; }

    /// <summary>
    /// File holding this gateway's credential for the trainer (issued by <c>tinymlops gateways add</c>, owner-only);
    /// empty sends no credential, which a trainer that requires one refuses.
    /// </summary>
    public string? CredentialFile { get; set; }

    /// <summary>Records per POST.</summary>
    public int BatchSize { get; set; } = 100;

    /// <summary>Longest wait between retries while the trainer is unreachable.</summary>
    public double MaxRetrySeconds { get; set; } = 30;
}

/// <summary>Alarm settings.</summary>
public sealed class AlarmOptions
{
    /// <summary>"gpio" (the board's GPIO chip through System.Device.Gpio), "simulated" or "none".</summary>
    public string Driver { get; set; } = "gpio";

    /// <summary>How long the buzzer sounds after a confirmed fault.</summary>
    public double BuzzerSeconds { get; set; } = 5;

    /// <summary>How long the red light stays on after the last confirmed fault.</summary>
    public double HoldSeconds { get; set; } = 300;
}

/// <summary>Checks <see cref="GatewayOptions"/> at start-up and says every problem at once.</summary>
public sealed class GatewayOptionsValidator : IValidateOptions<GatewayOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, GatewayOptions o)
    {
        var errors = new List<string>();
        if (!Topics.IsValidNodeId(o.GatewayId))
        {
            errors.Add("Gateway:GatewayId must be 1-64 letters, digits, '-', '_' or '.'");
        }

        Require(errors, !string.IsNullOrWhiteSpace(o.DataDirectory), "Gateway:DataDirectory is required");
        Require(errors, !string.IsNullOrWhiteSpace(o.NodesFile), "Gateway:NodesFile is required");
        Require(errors, o.StoreMaxPages >= 0, "Gateway:StoreMaxPages must not be negative");
        Require(errors, o.RetainForwardedHours > 0, "Gateway:RetainForwardedHours must be positive");
        Require(errors, !string.IsNullOrWhiteSpace(o.Verifier.ModelFile), "Gateway:Verifier:ModelFile is required");
        if (o.LocalNode.Enabled)
        {
            Require(errors, Topics.IsAssignableNodeId(o.LocalNode.NodeId), $"Gateway:LocalNode:NodeId '{o.LocalNode.NodeId}' is not an assignable node id (letters, digits, '-', '_', '.'; not a reserved gateway id)");
            Require(errors, o.LocalNode.Sensor is "" or "adxl345" or "mpu6050", $"Gateway:LocalNode:Sensor '{o.LocalNode.Sensor}' must be adxl345 or mpu6050");
            Require(errors, !string.IsNullOrWhiteSpace(o.LocalNode.PasswordFile) && !string.IsNullOrWhiteSpace(o.LocalNode.KeyFile), "Gateway:LocalNode needs PasswordFile and KeyFile");
            Require(errors, o.LocalNode.TelemetrySeconds is >= 5 and <= 86400, "Gateway:LocalNode:TelemetrySeconds must be 5..86400");
        }

        Require(errors, o.Mqtt.Port is >= 0 and <= 65535, $"Gateway:Mqtt:Port {o.Mqtt.Port} is not a port");
        Require(errors, o.Mqtt.TlsPort is >= 0 and <= 65535, $"Gateway:Mqtt:TlsPort {o.Mqtt.TlsPort} is not a port");
        Require(errors, o.Mqtt.MaxPayloadBytes is >= 64 and <= 1 << 20, "Gateway:Mqtt:MaxPayloadBytes must be 64 B .. 1 MiB");
        Require(errors, o.Mqtt.MaxConnectBytes is >= 64 and <= 65536, "Gateway:Mqtt:MaxConnectBytes must be 64 B .. 64 KiB");
        Require(errors, o.Mqtt.MaxPacketBytes >= o.Mqtt.MaxPayloadBytes && o.Mqtt.MaxPacketBytes <= 1 << 20, "Gateway:Mqtt:MaxPacketBytes must be at least MaxPayloadBytes and at most 1 MiB");
        Require(errors, o.Mqtt.MaxPendingConnections is >= 1 and <= 100_000, "Gateway:Mqtt:MaxPendingConnections must be 1..100000");
        Require(errors, o.Mqtt.ConnectTimeoutSeconds is > 0 and <= 300, "Gateway:Mqtt:ConnectTimeoutSeconds must be in (0, 300]");
        Require(errors, System.Net.IPAddress.TryParse(o.Mqtt.BindAddress, out _), $"Gateway:Mqtt:BindAddress '{o.Mqtt.BindAddress}' is not an IP address");
        if (o.Mqtt.Mode == BrokerMode.Embedded)
        {
            Require(errors, o.Mqtt.Port > 0 || o.Mqtt.CertificateFile != null, "Gateway:Mqtt: the embedded broker needs Port or CertificateFile");
            Require(errors, o.Mqtt.CertificateFile == null || File.Exists(o.Mqtt.CertificateFile), $"Gateway:Mqtt:CertificateFile {o.Mqtt.CertificateFile} does not exist");
        }
        else
        {
            Require(errors, !string.IsNullOrWhiteSpace(o.Mqtt.Host) && o.Mqtt.Port > 0, "Gateway:Mqtt: an external broker needs Host and Port");
            Require(errors, !string.IsNullOrEmpty(o.Mqtt.GatewayPassword), "Gateway:Mqtt:GatewayPassword is required for an external broker");
        }

        Require(errors, o.Verifier.ReloadCheckSeconds > 0, "Gateway:Verifier:ReloadCheckSeconds must be positive");
        Require(errors, o.Verifier.MaxBatch is >= 1 and <= 4096, "Gateway:Verifier:MaxBatch must be 1..4096");
        Require(errors, o.Uplink.BatchSize is >= 1 and <= 10000, "Gateway:Uplink:BatchSize must be 1..10000");
        Require(errors, o.Uplink.MaxRetrySeconds > 0, "Gateway:Uplink:MaxRetrySeconds must be positive");
        Require(errors, string.IsNullOrEmpty(o.Uplink.TrainerUrl) || Uri.TryCreate(o.Uplink.TrainerUrl, UriKind.Absolute, out _), $"Gateway:Uplink:TrainerUrl '{o.Uplink.TrainerUrl}' is not an absolute URL");
        Require(errors, o.Alarms.Driver is "gpio" or "simulated" or "none", $"Gateway:Alarms:Driver '{o.Alarms.Driver}' is not gpio, simulated or none");
        Require(errors, o.Alarms.BuzzerSeconds >= 0 && o.Alarms.HoldSeconds >= 0, "Gateway:Alarms: durations must not be negative");
        Require(errors, o.Http.ManagementPort is >= 0 and <= 65535, $"Gateway:Http:ManagementPort {o.Http.ManagementPort} is not a port");
        Require(errors, string.IsNullOrEmpty(o.Http.OperatorTokenFile) || File.Exists(o.Http.OperatorTokenFile), $"Gateway:Http:OperatorTokenFile {o.Http.OperatorTokenFile} does not exist");
        Require(errors, string.IsNullOrEmpty(o.Uplink.CredentialFile) || File.Exists(o.Uplink.CredentialFile), $"Gateway:Uplink:CredentialFile {o.Uplink.CredentialFile} does not exist");
        Require(errors, string.IsNullOrEmpty(o.App.InstallRoot) || !string.IsNullOrEmpty(o.Releases.RootKeyFile), "Gateway:App:InstallRoot needs Gateway:Releases:RootKeyFile (application releases are signed like model releases)");
        if (!string.IsNullOrEmpty(o.Releases.RootKeyFile))
        {
            Require(errors, File.Exists(o.Releases.RootKeyFile), $"Gateway:Releases:RootKeyFile {o.Releases.RootKeyFile} does not exist");
            Require(errors, !string.IsNullOrEmpty(o.Uplink.TrainerUrl), "Gateway:Releases needs Gateway:Uplink:TrainerUrl (releases come from the trainer)");
            Require(errors, o.Releases.Vendor.Length > 0, "Gateway:Releases:Vendor is required");
            Require(errors, o.Releases.BoardClass is >= 1 and <= 255, "Gateway:Releases:BoardClass must be 1..255 (the class of this gateway's nodes)");
            Require(errors, o.Releases.PollWaitSeconds is >= 0 and <= 60 && o.Releases.MaxRetrySeconds > 0 && o.Releases.HealthCheckSeconds > 0, "Gateway:Releases: PollWaitSeconds must be 0..60, MaxRetrySeconds and HealthCheckSeconds positive");
            Require(errors, o.App.TrialSeconds > 0 && o.App.TrialDeadlineSeconds > o.App.TrialSeconds, "Gateway:App: TrialSeconds must be positive and below TrialDeadlineSeconds");
            Require(errors, o.Releases.ProbationEvents >= 0 && o.Releases.ProbationSeconds >= 0 && o.Releases.MaxFailureIncrease is >= 0 and <= 1, "Gateway:Releases: ProbationEvents and ProbationSeconds must not be negative, MaxFailureIncrease must be 0..1");
            Require(errors, o.Releases.ChunkBytes is >= 256 and <= Firmware.Core.Wire.WireCodec.MaxChunk, $"Gateway:Releases:ChunkBytes must be 256..{Firmware.Core.Wire.WireCodec.MaxChunk}");
            Require(errors, o.Releases.RolloutSyncSeconds > 0, "Gateway:Releases:RolloutSyncSeconds must be positive");
            Require(errors, o.Releases.NodeTimeoutSeconds > 0 && o.Releases.NodeAttempts is >= 1 and <= 100, "Gateway:Releases: NodeTimeoutSeconds must be positive and NodeAttempts 1..100");
            Require(errors, string.IsNullOrEmpty(o.Releases.NodeKeysFile) || File.Exists(o.Releases.NodeKeysFile), $"Gateway:Releases:NodeKeysFile {o.Releases.NodeKeysFile} does not exist");
            Require(errors, o.Releases.ShadowWindows >= 1 && o.Releases.MinShadowWindows is >= 1 && o.Releases.MinShadowWindows <= o.Releases.ShadowWindows, "Gateway:Releases: 1 <= MinShadowWindows <= ShadowWindows");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Require(List<string> errors, bool ok, string message)
    {
        if (!ok)
        {
            errors.Add(message);
        }
    }
}
