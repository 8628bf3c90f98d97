using System;
using System.IO;
using System.Threading.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TinyMlops.Contracts;

namespace TinyMlops.Ingestion;

/// <summary>
/// The trainer's receiving end for gateways: <c>POST /api/ingest</c> takes an <see cref="UplinkBatch"/> from a
/// gateway that proves its identity (<c>Authorization: Bearer {gatewayId}.{token}</c>, tokens issued by
/// <see cref="GatewayCredentials"/> into <c>Ingestion:GatewaysFile</c>, default <c>{store}/gateways.json</c>) and files
/// it with <see cref="IngestionStore"/> under <c>Ingestion:StoreDirectory</c>; a gateway may send only under its own
/// id. <c>GET /health</c> says how much is filed.
/// </summary>
public static class IngestionApp
{
    /// <summary>Builds the service; <paramref name="configure"/> may add configuration (tests).</summary>
    public static WebApplication Build(string[] args, Action<IConfigurationBuilder>? configure = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        configure?.Invoke(builder.Configuration);
        builder.Host.UseSystemd();
        AddIngestion(builder);
        WebApplication app = builder.Build();
        MapIngestion(app);
        return app;
    }

    /// <summary>Registers the store and the gateway credentials from <c>Ingestion:*</c> configuration.</summary>
    public static void AddIngestion(WebApplicationBuilder builder)
    {
        string directory = builder.Configuration["Ingestion:StoreDirectory"] ?? Path.Combine(Directory.GetCurrentDirectory(), "ingested");
        string gateways = builder.Configuration["Ingestion:GatewaysFile"] ?? Path.Combine(directory, "gateways.json");
        builder.Services.AddSingleton(new IngestionStore(directory));
        builder.Services.AddSingleton(new GatewayCredentials(gateways));
    }

    /// <summary>Maps <c>POST /api/ingest</c> and <c>GET /health</c>.</summary>
    public static void MapIngestion(WebApplication app)
    {
        app.MapPost("/api/ingest", (HttpContext http, UplinkBatch? batch, IngestionStore store, GatewayCredentials credentials, ILogger<IngestionStore> log) =>
        {
            string? gateway = credentials.Authenticate(http.Request.Headers.Authorization);
            if (gateway == null)
            {
                return Unauthorized(credentials);
            }

            if (batch?.Records == null || batch.Records.Contains(null!))
            {
                return Results.BadRequest(new { error = "a batch is {\"gatewayId\": …, \"records\": [record, …]} with no null record" });
            }

            if (batch.GatewayId != gateway)
            {
                return Results.Json(new { error = $"gateway '{gateway}' may send only its own records" }, statusCode: 403);
            }

            IngestResult result = store.Ingest(batch);
            log.LogInformation("{Gateway}: {Accepted} filed, {Duplicates} duplicates, {Relabelled} relabelled, {Rejected} refused",
                gateway, result.Accepted, result.Duplicates, result.Relabelled, result.Rejected);
            return Results.Ok(result);
        });
        app.MapGet("/health", (IngestionStore store) => Results.Ok(new { status = "ok", records = store.Count, duplicatesSinceStart = store.DuplicatesSinceStart }));
    }

    /// <summary>The answer to a request without a valid gateway credential.</summary>
    public static IResult Unauthorized(GatewayCredentials credentials) =>
        Results.Json(new { error = credentials.Any ? "unknown gateway or wrong token" : "no gateway is registered: issue a credential with 'tinymlops gateways add ID'" }, statusCode: 401);

    /// <summary>Runs the service until it is stopped.</summary>
    public static async Task Main(string[] args) => await Build(args).RunAsync().ConfigureAwait(false);
}
