//! What the request-shaped tests install: every exporter aitrace ships, the HTTP ones each to a
//! loopback double that answers as its vendor does (OTLP, Langfuse, Braintrust), plus the memory
//! and JSONL exporters.

use std::path::PathBuf;

use aitrace::{Builder, ExportConfig};
use aitrace_testkit::{vendor_answer, Fault, FaultServer};

/// The doubles, the memory exporter and the JSONL file of one test.
pub(crate) struct Backends {
    pub(crate) otel: FaultServer,
    pub(crate) langfuse: FaultServer,
    pub(crate) braintrust: FaultServer,
    pub(crate) memory: aitrace::testing::TestExporter,
    pub(crate) jsonl: PathBuf,
}

impl Backends {
    /// Starts the doubles; Langfuse's answers by `langfuse` (a test may make it fail once). `name`
    /// keeps the JSONL files of tests running at once apart.
    pub(crate) fn start(name: &str, langfuse: Fault) -> Self {
        Backends {
            otel: FaultServer::start(vec![], Fault::Ok, vendor_answer),
            langfuse: FaultServer::start(vec![], langfuse, vendor_answer),
            braintrust: FaultServer::start(vec![], Fault::Ok, vendor_answer),
            memory: aitrace::testing::TestExporter::new(),
            jsonl: std::env::temp_dir()
                .join(format!("aitrace-{name}-{}.jsonl", std::process::id())),
        }
    }

    /// `builder` with every exporter added, each with `config`.
    pub(crate) fn add_to(&self, builder: Builder, config: ExportConfig) -> Builder {
        let mut lf = aitrace::langfuse::LangfuseConfig::new("pk-lf-1", "sk-lf-1");
        lf.base_url = self.langfuse.url().to_string();
        let mut bt = aitrace::braintrust::BraintrustConfig::new("bt-key", "tests");
        bt.api_url = self.braintrust.url().to_string();
        bt.project = aitrace::braintrust::ProjectRef::Id("p-1".into());
        builder
            .jsonl(&self.jsonl)
            .exporter(self.memory.clone())
            .export_config(config)
            .exporter(
                aitrace::otel::OtelExporter::builder()
                    .read_env(false)
                    .endpoint(format!("{}/v1/traces", self.otel.url()))
                    .build()
                    .unwrap(),
            )
            .exporter(aitrace::langfuse::LangfuseExporter::new(lf).unwrap())
            .exporter(aitrace::braintrust::BraintrustExporter::new(bt).unwrap())
    }

    /// What the JSONL exporter wrote (the file is removed).
    pub(crate) fn jsonl_text(&self) -> String {
        let text = std::fs::read_to_string(&self.jsonl).unwrap();
        let _ = std::fs::remove_file(&self.jsonl);
        text
    }
}
