using System;
using System.Collections.Generic;
using System.Device.Gpio;
using System.IO;
using System.Net.Http;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyMlops.Boards;
using TinyMlops.Gateway.Alarms;
using TinyMlops.Gateway.Broker;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Gateway.Health;
using TinyMlops.Gateway.Intake;
using TinyMlops.Gateway.Storage;
using TinyMlops.Gateway.Uplink;
using TinyMlops.Gateway.Verification;

namespace TinyMlops.Gateway;

/// <summary>
/// The gateway service: options from <c>appsettings.json</c>, environment (<c>Gateway__Mqtt__Port</c> …) and the
/// command line; systemd integration (notify, journal logging); the broker (embedded or external), intake,
/// verification, uplink and alarms; HTTP endpoints <c>/metrics</c> (Prometheus), <c>/health</c> and
/// <c>POST /api/labels</c>.
/// </summary>
public static class GatewayApp
{
    /// <summary>Builds the service; <paramref name="configure"/> may add configuration (tests).</summary>
    public static WebApplication Build(string[] args, Action<IConfigurationBuilder>? configure = null, GpioDriver? gpioDriver = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder.Configuration);
        builder.Host.UseSystemd();
        builder.Services.AddOptions<GatewayOptions>().Bind(builder.Configuration.GetSection(GatewayOptions.Section)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>();
        builder.Services.AddSingleton(sp => sp.GetRequiredService<IOptions<GatewayOptions>>().Value.Mqtt);
        builder.Services.AddSingleton(sp => new NodeRegistry(sp.GetRequiredService<IOptions<GatewayOptions>>().Value.NodesFile));
        builder.Services.AddSingleton(sp =>
        {
            GatewayOptions o = sp.GetRequiredService<IOptions<GatewayOptions>>().Value;
            return new GatewayStore(Path.Combine(o.DataDirectory, "gateway.db"), o.StoreMaxPages);
        });
        builder.Services.AddSingleton<GatewayMetrics>();
        builder.Services.AddSingleton<VerifierHost>();
        builder.Services.AddSingleton<EventIntake>();
        builder.Services.AddSingleton(sp => CreateAlarms(sp.GetRequiredService<IOptions<GatewayOptions>>().Value, gpioDriver));
        builder.Services.AddSingleton(new HttpClient { Timeout = TimeSpan.FromSeconds(30) });
        if (builder.Configuration.GetValue<BrokerMode>("Gateway:Mqtt:Mode") == BrokerMode.External)
        {
            builder.Services.AddSingleton<ExternalBrokerLink>();
            builder.Services.AddSingleton<INodeLink>(sp => sp.GetRequiredService<ExternalBrokerLink>());
            builder.Services.AddHostedService(sp => sp.GetRequiredService<ExternalBrokerLink>());
        }
        else
        {
            builder.Services.AddSingleton<EmbeddedBroker>();
            builder.Services.AddSingleton<INodeLink>(sp => sp.GetRequiredService<EmbeddedBroker>());
            builder.Services.AddHostedService(sp => sp.GetRequiredService<EmbeddedBroker>());
        }

        builder.Services.AddSingleton(sp => new VerificationWorker(
            sp.GetRequiredService<IOptions<GatewayOptions>>(), sp.GetRequiredService<EventIntake>(), sp.GetRequiredService<GatewayStore>(),
            sp.GetRequiredService<VerifierHost>(), sp.GetRequiredService<INodeLink>(), sp.GetRequiredService<GatewayMetrics>(),
            sp.GetRequiredService<ILogger<VerificationWorker>>(), sp.GetRequiredService<AlarmHolder>().Panel));
        builder.Services.AddHostedService(sp => sp.GetRequiredService<VerificationWorker>());
        builder.Services.AddSingleton<UplinkWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<UplinkWorker>());

        WebApplication app = builder.Build();
        app.MapGet("/metrics", (GatewayMetrics m, GatewayStore s) =>
        {
            (long _, long toVerify, long toForward) = s.Counts();
            return Results.Text(m.ToPrometheus(toVerify, toForward, s.IsFull), "text/plain; version=0.0.4");
        });
        app.MapGet("/health", (GatewayMetrics m, GatewayStore s, VerifierHost v, INodeLink link, AlarmHolder alarms) =>
        {
            (long events, long toVerify, long toForward) = s.Counts();
            bool ok = v.Current != null && link.IsConnected && !s.IsFull;
            var body = new Dictionary<string, object?>
            {
                ["status"] = ok ? "ok" : "degraded",
                ["verifierVersion"] = v.Current?.Version,
                ["verifierClasses"] = v.Current?.Classes,
                ["broker"] = link.IsConnected ? "up" : "down",
                ["storageFull"] = s.IsFull,
                ["events"] = events,
                ["toVerify"] = toVerify,
                ["toForward"] = toForward,
                ["alarm"] = alarms.Panel?.IsRaised == true ? alarms.Panel.LastAlarm : null,
            };
            return Results.Json(body, statusCode: ok ? 200 : 503);
        });
        app.MapPost("/api/labels", (LabelRequest request, GatewayStore s) =>
            string.IsNullOrWhiteSpace(request.EventId) || string.IsNullOrWhiteSpace(request.Label) || request.Label.Length > 64
                ? Results.BadRequest(new { error = "eventId and label (1-64 characters) are required" })
                : s.SetLabel(request.EventId, request.Label.Trim(), "operator") ? Results.NoContent() : Results.NotFound(new { error = $"no event {request.EventId}" }));
        return app;
    }

    /// <summary>An operator's label for a stored event.</summary>
    /// <param name="EventId">Event id.</param>
    /// <param name="Label">Class name.</param>
    public sealed record LabelRequest(string EventId, string Label);

    /// <summary>The alarm panel, or none (driver "none").</summary>
    /// <param name="Panel">The panel.</param>
    public sealed record AlarmHolder(AlarmPanel? Panel);

    private static AlarmHolder CreateAlarms(GatewayOptions o, GpioDriver? driver)
    {
        if (o.Alarms.Driver == "none")
        {
            return new AlarmHolder(null);
        }

        BoardProfile board = BoardProfile.Load(o.Board);
        GpioController gpio = o.Alarms.Driver == "simulated" || driver != null ? new GpioController(driver ?? new SimulatedGpioDriver()) : new GpioController();
        return new AlarmHolder(new AlarmPanel(gpio, AlarmPins.From(board.AlarmPins), TimeSpan.FromSeconds(o.Alarms.BuzzerSeconds), TimeSpan.FromSeconds(o.Alarms.HoldSeconds)));
    }

    /// <summary>Runs the service until it is stopped.</summary>
    public static async Task<int> Main(string[] args)
    {
        try
        {
            await Build(args).RunAsync().ConfigureAwait(false);
            return 0;
        }
        catch (OptionsValidationException e)
        {
            Console.Error.WriteLine("tinymlops-gateway: invalid configuration:\n  - " + string.Join("\n  - ", e.Failures));
            return 2;
        }
        catch (Exception e) when (e is InvalidDataException or BoardProfileException or DirectoryNotFoundException)
        {
            // A bad nodes file or board profile: say which and stop, rather than a stack trace from deep in the host.
            Console.Error.WriteLine($"tinymlops-gateway: cannot start: {e.Message}");
            return 2;
        }
    }
}
