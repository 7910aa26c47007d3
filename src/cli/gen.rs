//! `licence-vault gen`: synthetic, realistic, validly signed licences as JSON Lines, for benchmarks
//! and load tests at city scale.
//!
//! Everything comes from the registries a vault is seeded with: the catalogue's types and face-field
//! schemas (`FIXTURES/catalogue.json`), each type issued by an agency allowed to issue it
//! (`FIXTURES/agencies.json`) and signed with that agency's current key, found in `KEYS/` by its
//! `did:key`. Holders are citizens (valid GB 11643 numbers) and companies (valid GB 32100 codes),
//! unique per holder; most hold 1–5 licences. Every line is the JCS form of a signed licence, which
//! is exactly what the vault stores, so JSONL bytes and stored bytes compare like for like.
//!
//! The output depends only on `--seed`, `--count` and the registry and key files: holders and
//! licences come from a counter-based generator (no shared random state), signatures are Ed25519
//! (deterministic), and the parallel signing writes in input order.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context as _};
use chrono::{DateTime, Datelike as _, Duration, NaiveDate, TimeZone as _, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde_json::{json, Map, Value};

use super::{DEFAULT_FIXTURES, DEFAULT_KEYS};
use crate::codes::{CitizenId, LicenceId, Uscc, CODE_TYPE_CITIZEN, CODE_TYPE_USCC};
use crate::keys::Signer;
use crate::licence::{LICENCE_TYPE, USCC_URN_PREFIX, VC_CONTEXT};
use crate::registry::{Agency, FieldSpec, FieldType, HolderCategory, LicenceType};
use crate::{jcs, proof};

/// Licences signed per parallel step; output is written in order after each step.
const CHUNK: usize = 4096;
/// Issue dates fall in this many days after the latest `activeFrom` of the signing keys.
const ISSUE_WINDOW_DAYS: i64 = 730;
/// Default number of identifiers written to `--ids`.
const DEFAULT_IDS_MAX: u64 = 100_000;

#[derive(Debug, Args)]
pub struct GenOpt {
    /// How many licences to write.
    #[arg(long)]
    pub count: u64,
    /// Output file: one signed licence (JCS) per line ('-' for stdout).
    #[arg(long)]
    pub out: PathBuf,
    /// Leave out the first N licences of the sequence: the output continues where a run with
    /// `--count N` (same seed) ended, so it holds licences a vault loaded from that run lacks.
    #[arg(long, default_value_t = 0)]
    pub skip: u64,
    /// Seed of the synthetic population; the same seed gives the same bytes.
    #[arg(long, env = "LICENCE_VAULT_GEN_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Directory of the agencies' secret key files (NAME.key / NAME.pub).
    #[arg(long, env = "LICENCE_VAULT_KEYS", default_value = DEFAULT_KEYS)]
    pub keys: PathBuf,
    /// Directory with catalogue.json and agencies.json.
    #[arg(long, env = "LICENCE_VAULT_FIXTURES", default_value = DEFAULT_FIXTURES)]
    pub fixtures: PathBuf,
    /// Also write identifiers (bare, one per line), evenly spread over the output, for load tests.
    #[arg(long)]
    pub ids: Option<PathBuf>,
    /// At most this many identifiers in --ids.
    #[arg(long, default_value_t = DEFAULT_IDS_MAX)]
    pub ids_max: u64,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long, env = "CI")]
    pub quiet: bool,
}

/// What a run wrote, printed as JSON on stdout.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenSummary {
    pub count: u64,
    pub holders: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub licences_per_second: f64,
    /// Licences per type name.
    pub per_type: BTreeMap<String, u64>,
    /// Holders by how many licences they hold.
    pub licences_per_holder: BTreeMap<u32, u64>,
}

pub fn run(opt: GenOpt) -> anyhow::Result<i32> {
    let summary = generate(&opt)?;
    eprintln!(
        "wrote {} licences of {} holders ({} bytes, {:.0} licences/s)",
        summary.count, summary.holders, summary.bytes, summary.licences_per_second
    );
    // With the licences on stdout, the summary goes to stderr: stdout is one licence per line.
    let line = serde_json::to_string(&summary)?;
    if opt.out.as_os_str() == "-" {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
    Ok(0)
}

pub fn generate(opt: &GenOpt) -> anyhow::Result<GenSummary> {
    let started = Instant::now();
    let world = World::load(&opt.fixtures, &opt.keys, opt.seed)?;
    let mut out: Box<dyn std::io::Write> = if opt.out.as_os_str() == "-" {
        Box::new(BufWriter::with_capacity(1 << 20, std::io::stdout().lock()))
    } else {
        let f = std::fs::File::create(&opt.out)
            .with_context(|| format!("creating {}", opt.out.display()))?;
        Box::new(BufWriter::with_capacity(1 << 20, f))
    };
    let mut ids = opt
        .ids
        .as_ref()
        .map(|p| std::fs::File::create(p).with_context(|| format!("creating {}", p.display())))
        .transpose()?
        .map(BufWriter::new);
    let id_stride = opt.count.div_ceil(opt.ids_max.max(1)).max(1);

    let bar = if opt.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(opt.count)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} licences {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let mut summary = GenSummary {
        count: opt.count,
        ..GenSummary::default()
    };
    let mut planner = Planner::new(&world);
    let mut chunk = Vec::with_capacity(CHUNK);
    // Planning without signing is cheap: walk the skipped part of the population.
    for index in 0..opt.skip {
        planner.next_item(index)?;
    }
    let end = opt.skip.saturating_add(opt.count);
    let mut next = opt.skip;
    while next < end {
        chunk.clear();
        while chunk.len() < CHUNK && next < end {
            let item = planner.next_item(next)?;
            *summary
                .per_type
                .entry(world.types[item.type_index].ty.name.clone())
                .or_default() += 1;
            chunk.push(item);
            next += 1;
        }
        let lines: Vec<(LicenceId, Vec<u8>)> = chunk
            .par_iter()
            .map(|item| world.licence(item))
            .collect::<anyhow::Result<_>>()?;
        for (item, (id, line)) in chunk.iter().zip(&lines) {
            out.write_all(line)?;
            out.write_all(b"\n")?;
            summary.bytes += line.len() as u64 + 1;
            if let Some(w) = ids.as_mut() {
                if item.index % id_stride == 0 {
                    writeln!(w, "{id}")?;
                }
            }
        }
        bar.inc(chunk.len() as u64);
    }
    planner.finish(&mut summary);
    out.flush().context("writing the licences")?;
    if let Some(mut w) = ids {
        w.flush().context("writing the identifiers")?;
    }
    bar.finish_and_clear();
    summary.seconds = started.elapsed().as_secs_f64();
    summary.licences_per_second = summary.count as f64 / summary.seconds.max(1e-9);
    Ok(summary)
}

// ----- counter-based randomness ------------------------------------------------------------------

/// SplitMix64 finaliser: a bijective mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A small deterministic generator keyed by (seed, stream, index): no state is shared between
/// holders or licences, so the parallel parts need no coordination.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64, index: u64) -> Self {
        Self(mix(mix(seed ^ mix(stream)) ^ index))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    /// Uniform in `0..n` (`n > 0`); the modulo bias is irrelevant for synthetic data.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: i64, hi_inclusive: i64) -> i64 {
        lo + self.below((hi_inclusive - lo + 1).max(1) as u64) as i64
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// Index chosen with the given weights.
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut x = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len().saturating_sub(1)
    }
}

const STREAM_HOLDER: u64 = 1;
const STREAM_LICENCE: u64 = 2;
const STREAM_PERMUTE: u64 = 3;

/// A bijection of `0..m` (`p` coprime with `m`), so distinct holders get distinct codes.
fn permute(i: u64, m: u64, p: u64, offset: u64) -> u64 {
    ((u128::from(i) * u128::from(p) + u128::from(offset)) % u128::from(m)) as u64
}

/// A prime coprime with every modulus used here (all are products of small factors).
const PERMUTE_PRIME: u64 = 1_000_000_007;

// ----- the synthetic population ------------------------------------------------------------------

/// Districts of Fuzhou: code, name, whether it is a county-level city or county (公安局, not 分局).
const DISTRICTS: [(&str, &str, bool); 12] = [
    ("350102", "鼓楼区", false),
    ("350103", "台江区", false),
    ("350104", "仓山区", false),
    ("350105", "马尾区", false),
    ("350111", "晋安区", false),
    ("350112", "长乐区", false),
    ("350121", "闽侯县", true),
    ("350122", "连江县", true),
    ("350123", "罗源县", true),
    ("350124", "闽清县", true),
    ("350125", "永泰县", true),
    ("350181", "福清市", true),
];
/// Places of first registration (the first six digits of an identity number): Fuzhou, the rest of
/// Fujian and a few other provinces, as in a provincial capital's population.
const BIRTH_REGIONS: [&str; 26] = [
    "350102", "350103", "350104", "350105", "350111", "350112", "350121", "350122", "350123",
    "350124", "350125", "350181", "350203", "350206", "350302", "350503", "350582", "350602",
    "350702", "350802", "350902", "330106", "360102", "440106", "430102", "510107",
];
const SURNAMES: [&str; 40] = [
    "林", "陈", "黄", "郑", "王", "吴", "张", "李", "刘", "杨", "赵", "周", "徐", "孙", "朱", "高",
    "何", "郭", "罗", "谢", "许", "邱", "江", "叶", "游", "魏", "詹", "蔡", "卢", "余", "潘", "施",
    "翁", "薛", "姚", "方", "曾", "范", "苏", "庄",
];
const GIVEN: [&str; 48] = [
    "志", "强", "雅", "婷", "建", "华", "丽", "娟", "海", "峰", "晓", "燕", "伟", "明", "辉", "芳",
    "国", "栋", "金", "水", "平", "秀", "英", "文", "俊", "杰", "美", "玲", "榕", "闽", "鑫", "源",
    "宇", "航", "欣", "怡", "子", "涵", "思", "琪", "嘉", "磊", "静", "敏", "春", "梅", "宏", "斌",
];
const NATIONS: [&str; 6] = ["汉", "畲", "回", "满", "壮", "苗"];
const ROADS: [&str; 20] = [
    "五四路",
    "杨桥东路",
    "江滨西大道",
    "福新中路",
    "金山大道",
    "学府南路",
    "温泉公园路",
    "湖东路",
    "六一北路",
    "华林路",
    "东街",
    "八一七北路",
    "工业路",
    "白马北路",
    "连江中路",
    "国货西路",
    "浦上大道",
    "南二环路",
    "鼓屏路",
    "福飞南路",
];
const ESTATES: [&str; 12] = [
    "金山碧水",
    "东方名城",
    "世茂云图",
    "榕发观湖",
    "融侨外滩",
    "正祥特区",
    "万科金域榕郡",
    "泰禾红峪",
    "三盛国际公园",
    "阳光城翡丽湾",
    "建发央著",
    "中庚香江",
];
const BRANDS: [&str; 24] = [
    "闽味", "鑫源", "智联", "榕城", "海峡", "三坊", "茉莉", "船政", "左海", "乌山", "鼓岭", "闽江",
    "永泰", "福瑞", "恒达", "聚福", "荣昌", "华美", "安泰", "兴闽", "德润", "嘉禾", "天元", "宏业",
];
/// Company lines of business: name part, business scope, food business kind (主体业态).
const INDUSTRIES: [(&str, &str, &str); 8] = [
    (
        "餐饮管理",
        "餐饮服务；餐饮管理；食品销售（仅销售预包装食品）",
        "餐饮服务经营者",
    ),
    (
        "食品贸易",
        "食品销售；食用农产品批发；货物进出口",
        "食品销售经营者",
    ),
    (
        "信息科技",
        "软件开发；信息系统集成服务；信息技术咨询服务",
        "单位食堂",
    ),
    (
        "物业服务",
        "物业管理；停车场服务；单位食堂餐饮服务",
        "单位食堂",
    ),
    (
        "商贸",
        "日用百货销售；食品销售；家用电器销售",
        "食品销售经营者",
    ),
    (
        "建筑工程",
        "房屋建筑工程施工；市政公用工程施工；建筑材料销售",
        "单位食堂",
    ),
    ("茶业", "茶叶种植；茶叶制品销售；餐饮服务", "餐饮服务经营者"),
    (
        "医药连锁",
        "药品零售；医疗器械销售；保健食品销售",
        "食品销售经营者",
    ),
];
const QUALIFICATIONS: [&str; 8] = [
    "会计专业技术资格",
    "经济专业技术资格（人力资源管理）",
    "工程技术人员职称（土木建筑工程）",
    "统计专业技术资格",
    "卫生专业技术资格（护理）",
    "计算机技术与软件专业技术资格",
    "审计专业技术资格",
    "出版专业技术人员职业资格",
];

/// Days from 1950-01-01 over which birth dates spread (to the end of 2005).
const BIRTH_DAYS: u64 = 20_453;

#[derive(Debug)]
struct Citizen {
    name: String,
    male: bool,
    nation: &'static str,
    birth: NaiveDate,
    number: String,
    district: usize,
    address: String,
}

#[derive(Debug)]
struct Company {
    name: String,
    uscc: String,
    representative: String,
    /// The legal representative is citizen `h` of the population: their identity number.
    representative_id: String,
    capital: i64,
    founded: NaiveDate,
    address: String,
    industry: usize,
    district: usize,
}

#[derive(Debug)]
enum Holder {
    Citizen(Citizen),
    Company(Company),
}

impl Holder {
    fn district(&self) -> usize {
        match self {
            Holder::Citizen(c) => c.district,
            Holder::Company(c) => c.district,
        }
    }
}

/// One licence to build: its global number, its holder and its type.
struct Item {
    index: u64,
    holder: Arc<Holder>,
    type_index: usize,
}

// ----- registries and keys -----------------------------------------------------------------------

/// Signers of `dir` by their did:key (NAME.pub names the key, NAME.key holds it).
fn signers_by_did(dir: &Path) -> anyhow::Result<BTreeMap<String, Signer>> {
    let mut out = BTreeMap::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path.extension().is_none_or(|e| e != "key") {
            continue;
        }
        let signer = super::read_signer(&path)?;
        out.insert(signer.did_key().as_str().to_owned(), signer);
    }
    Ok(out)
}

/// A catalogued type with the agency that issues it and its current signer.
struct TypePlan {
    ty: LicenceType,
    issuer: Uscc,
    issuer_name: String,
    region: String,
    signer: usize,
    /// Weight when a holder's further licences are drawn, and whether one holder may hold several.
    weight: u64,
    repeatable: bool,
}

struct World {
    seed: u64,
    types: Vec<TypePlan>,
    signers: Vec<Signer>,
    first_issue: NaiveDate,
    /// Indices into `types` for citizens and companies, the first being every holder's first licence.
    citizen_types: Vec<usize>,
    company_types: Vec<usize>,
}

/// How common a type is among a holder's further licences, and whether it may repeat.
fn type_weight(name: &str) -> (u64, bool) {
    match name {
        "社会保障卡" => (6, false),
        "机动车驾驶证" => (5, false),
        "居民户口簿" => (4, false),
        "结婚证" => (4, false),
        "不动产权证书" => (4, true),
        "专业技术人员职业资格证书" => (2, true),
        "食品经营许可证" => (5, true),
        _ => (1, false),
    }
}

/// The key of `agency` that signs new licences now: active, neither retired nor compromised.
fn current_key(agency: &Agency) -> Option<&crate::registry::AgencyKey> {
    agency
        .keys
        .iter()
        .filter(|k| k.retired_at.is_none() && k.compromised_at.is_none())
        .max_by_key(|k| k.active_from)
}

impl World {
    fn load(fixtures: &Path, keys: &Path, seed: u64) -> anyhow::Result<Self> {
        let catalogue = crate::demo::catalogue(fixtures)?;
        let agencies = crate::demo::agencies(fixtures)?;
        let mut available = signers_by_did(keys)?;
        let mut signers: Vec<Signer> = Vec::new();
        let mut signer_index: BTreeMap<String, usize> = BTreeMap::new();
        let mut types = Vec::new();
        let mut latest_activation: Option<DateTime<Utc>> = None;
        for ty in catalogue {
            // The first allowed issuer that is registered and whose current key we hold.
            let chosen = ty.issuers.iter().find_map(|u| {
                let agency = agencies.iter().find(|a| &a.uscc == u)?;
                let key = current_key(agency)?;
                let did = key.did_key.as_str();
                (available.contains_key(did) || signer_index.contains_key(did))
                    .then_some((agency, key))
            });
            let Some((agency, key)) = chosen else {
                bail!(
                    "type {} ({}): no allowed issuer with a current key in {}",
                    ty.type_code,
                    ty.name,
                    keys.display()
                );
            };
            let did = key.did_key.as_str().to_owned();
            let signer = match signer_index.get(&did) {
                Some(i) => *i,
                None => {
                    let s = available
                        .remove(&did)
                        .ok_or_else(|| anyhow!("key {did} not loaded"))?;
                    signers.push(s);
                    signer_index.insert(did, signers.len() - 1);
                    signers.len() - 1
                }
            };
            latest_activation = latest_activation.max(Some(key.active_from));
            let (weight, repeatable) = type_weight(&ty.name);
            types.push(TypePlan {
                issuer: agency.uscc.clone(),
                issuer_name: agency.name.clone(),
                region: agency.region.clone(),
                signer,
                weight,
                repeatable,
                ty,
            });
        }
        let first_issue = latest_activation
            .ok_or_else(|| anyhow!("the catalogue has no types"))?
            .date_naive()
            .succ_opt()
            .ok_or_else(|| anyhow!("no date after the key activation"))?;
        let of = |cat: HolderCategory, first: &str| {
            let mut v: Vec<usize> = (0..types.len())
                .filter(|&i| types[i].ty.holder_category == cat)
                .collect();
            if let Some(pos) = v.iter().position(|&i| types[i].ty.name == first) {
                let f = v.remove(pos);
                v.insert(0, f);
            }
            v
        };
        let citizen_types = of(HolderCategory::NaturalPerson, "居民身份证");
        let company_types = of(HolderCategory::LegalPerson, "营业执照");
        if citizen_types.is_empty() && company_types.is_empty() {
            bail!("the catalogue has no types to generate");
        }
        Ok(Self {
            seed,
            types,
            signers,
            first_issue,
            citizen_types,
            company_types,
        })
    }

    fn citizen(&self, h: u64, rng: &mut Rng) -> anyhow::Result<Citizen> {
        let (number, birth, seq) = self.citizen_number(h)?;
        let male = seq % 2 == 1;
        let district = rng.below(DISTRICTS.len() as u64) as usize;
        let nation = if rng.chance(95) {
            NATIONS[0]
        } else {
            *rng.pick(&NATIONS[1..])
        };
        Ok(Citizen {
            name: person_name(rng),
            male,
            nation,
            birth,
            number,
            district,
            address: home_address(district, rng),
        })
    }

    /// Citizen `h`'s identity number, birth date and sequence code. Region, birth date and
    /// sequence number are a bijection of the holder number, so two holders never share a number.
    fn citizen_number(&self, h: u64) -> anyhow::Result<(String, NaiveDate, u64)> {
        let regions = BIRTH_REGIONS.len() as u64;
        let m = regions * BIRTH_DAYS * 1000;
        let offset = Rng::new(self.seed, STREAM_PERMUTE, 0).below(m);
        let code = permute(h, m, PERMUTE_PRIME, offset);
        let region = BIRTH_REGIONS[(code % regions) as usize];
        let day = (code / regions) % BIRTH_DAYS;
        let seq = code / (regions * BIRTH_DAYS);
        let birth = NaiveDate::from_ymd_opt(1950, 1, 1)
            .and_then(|d| d.checked_add_signed(Duration::days(day as i64)))
            .ok_or_else(|| anyhow!("birth date out of range"))?;
        let first17 = format!("{region}{}{seq:03}", birth.format("%Y%m%d"));
        let number = format!("{first17}{}", CitizenId::check_char(&first17)?);
        Ok((number, birth, seq))
    }

    fn company(&self, h: u64, rng: &mut Rng) -> anyhow::Result<Company> {
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
        let m = 31u64.pow(7);
        let offset = Rng::new(self.seed, STREAM_PERMUTE, 1).below(m);
        let mut code = permute(h, m, PERMUTE_PRIME, offset);
        let mut body = String::with_capacity(7);
        for _ in 0..7 {
            body.push(char::from(ALPHABET[(code % 31) as usize]));
            code /= 31;
        }
        let district = rng.below(DISTRICTS.len() as u64) as usize;
        let first17 = format!("91{}MA{body}", DISTRICTS[district].0);
        let uscc = format!("{first17}{}", Uscc::check_char(&first17)?);
        let industry = rng.below(INDUSTRIES.len() as u64) as usize;
        let short = DISTRICTS[district]
            .1
            .trim_end_matches(['区', '县', '市'])
            .to_owned();
        let founded = self.first_issue - Duration::days(rng.range(30, 25 * 365));
        Ok(Company {
            name: format!(
                "福州{short}{}{}有限公司",
                rng.pick(&BRANDS),
                INDUSTRIES[industry].0
            ),
            uscc,
            representative: person_name(rng),
            representative_id: self.citizen_number(h)?.0,
            capital: [50, 100, 200, 300, 500, 1000, 2000, 5000][rng.below(8) as usize],
            founded,
            address: format!(
                "福建省福州市{}{}{}号{}层{}室",
                DISTRICTS[district].1,
                rng.pick(&ROADS),
                rng.range(1, 400),
                rng.range(1, 30),
                rng.range(1, 20) * 100 + rng.range(1, 12),
            ),
            industry,
            district,
        })
    }

    /// Builds, signs and serialises one licence: its identifier and its JCS bytes.
    fn licence(&self, item: &Item) -> anyhow::Result<(LicenceId, Vec<u8>)> {
        let plan = &self.types[item.type_index];
        let mut rng = Rng::new(self.seed, STREAM_LICENCE, item.index);
        let issue = self.first_issue + Duration::days(rng.below(ISSUE_WINDOW_DAYS as u64) as i64);
        let serial = format!("{}{:010}", issue.format("%Y%m%d"), item.index);
        let id = LicenceId::new(&plan.ty.type_code, &plan.issuer, &serial, 1)
            .map_err(|e| anyhow!("identifier for licence {}: {e}", item.index))?;
        let holder = &*item.holder;
        let until = valid_until(&plan.ty.name, holder, issue, &mut rng);
        let face = FaceCtx {
            holder,
            issue,
            until,
            index: item.index,
        };
        let mut fields = Map::new();
        for spec in &plan.ty.fields {
            if !spec.required && !rng.chance(70) {
                continue;
            }
            fields.insert(spec.name.clone(), face.value(spec, &mut rng));
        }
        let (holder_name, code_type, code) = match holder {
            Holder::Citizen(c) => (&c.name, CODE_TYPE_CITIZEN, &c.number),
            Holder::Company(c) => (&c.name, CODE_TYPE_USCC, &c.uscc),
        };
        let local = matches!(
            plan.ty.name.as_str(),
            "居民身份证" | "居民户口簿" | "结婚证" | "不动产权证书" | "营业执照" | "食品经营许可证"
        );
        let jurisdiction = if local {
            DISTRICTS[holder.district()].0.to_owned()
        } else {
            plan.region.clone()
        };
        let mut doc = json!({
            "@context": [VC_CONTEXT],
            "id": id.urn(),
            "type": ["VerifiableCredential", LICENCE_TYPE],
            "issuer": {"id": format!("{USCC_URN_PREFIX}{}", plan.issuer), "name": plan.issuer_name},
            "validFrom": format!("{}T00:00:00Z", issue.format("%Y-%m-%d")),
            "credentialSubject": {
                "holder": {"name": holder_name, "codeType": code_type, "code": code},
                "licence": {
                    "typeCode": plan.ty.type_code.as_str(),
                    "typeName": plan.ty.name,
                    "number": face.number(&plan.ty.name, &serial, &mut rng),
                    "issueDate": issue.format("%Y-%m-%d").to_string(),
                    "jurisdiction": jurisdiction,
                    "version": "001",
                    "fields": fields,
                }
            }
        });
        if let (Some(u), Value::Object(o)) = (until, &mut doc) {
            o.insert(
                "validUntil".into(),
                format!("{}T23:59:59Z", u.format("%Y-%m-%d")).into(),
            );
        }
        // Signed during office hours in Fuzhou (UTC+8) on the day of issue.
        let start = issue
            .and_hms_opt(0, 30, 0)
            .ok_or_else(|| anyhow!("no time on {issue}"))?;
        let created = Utc.from_utc_datetime(&start) + Duration::minutes(rng.range(0, 8 * 60));
        let signed = proof::sign(doc, &self.signers[plan.signer], created)
            .map_err(|e| anyhow!("signing licence {}: {e}", item.index))?;
        Ok((id, jcs::canonicalize(&signed)))
    }
}

fn person_name(rng: &mut Rng) -> String {
    let mut name = (*rng.pick(&SURNAMES)).to_owned();
    let given = *rng.pick(&GIVEN);
    name.push_str(given);
    if rng.chance(75) {
        let second = *rng.pick(&GIVEN);
        name.push_str(second);
    }
    name
}

fn home_address(district: usize, rng: &mut Rng) -> String {
    format!(
        "福建省福州市{}{}{}号{}{}栋{}室",
        DISTRICTS[district].1,
        rng.pick(&ROADS),
        rng.range(1, 300),
        rng.pick(&ESTATES),
        rng.range(1, 20),
        rng.range(1, 33) * 100 + rng.range(1, 6),
    )
}

fn police_office(district: usize) -> String {
    let (_, name, county) = DISTRICTS[district];
    if county {
        format!("{name}公安局")
    } else {
        format!("福州市公安局{}分局", name.trim_end_matches('区'))
    }
}

/// The last day of a term of `years` starting on `first`.
fn last_day(first: NaiveDate, years: i32) -> Option<NaiveDate> {
    let y = first.year() + years;
    NaiveDate::from_ymd_opt(y, first.month(), first.day())
        .or_else(|| NaiveDate::from_ymd_opt(y, first.month(), first.day().saturating_sub(1)))
        .and_then(|d| d.pred_opt())
}

/// Terms of validity as the issuing practice has them; types not listed are valid indefinitely.
fn valid_until(
    type_name: &str,
    holder: &Holder,
    issue: NaiveDate,
    rng: &mut Rng,
) -> Option<NaiveDate> {
    match (type_name, holder) {
        ("居民身份证", Holder::Citizen(c)) => {
            let age = issue.year()
                - c.birth.year()
                - i32::from((issue.month(), issue.day()) < (c.birth.month(), c.birth.day()));
            match age {
                ..16 => last_day(issue, 5),
                16..=25 => last_day(issue, 10),
                26..=45 => last_day(issue, 20),
                _ => None,
            }
        }
        ("机动车驾驶证", _) => last_day(issue, if rng.chance(40) { 6 } else { 10 }),
        ("社会保障卡", _) => last_day(issue, 10),
        ("食品经营许可证", _) => last_day(issue, 5),
        _ => None,
    }
}

/// What face-field values are drawn from.
struct FaceCtx<'a> {
    holder: &'a Holder,
    issue: NaiveDate,
    until: Option<NaiveDate>,
    index: u64,
}

fn date(d: NaiveDate) -> Value {
    Value::String(d.format("%Y-%m-%d").to_string())
}

impl FaceCtx<'_> {
    fn citizen(&self) -> Option<&Citizen> {
        match self.holder {
            Holder::Citizen(c) => Some(c),
            Holder::Company(_) => None,
        }
    }
    fn company(&self) -> Option<&Company> {
        match self.holder {
            Holder::Company(c) => Some(c),
            Holder::Citizen(_) => None,
        }
    }
    fn holder_name(&self) -> &str {
        match self.holder {
            Holder::Citizen(c) => &c.name,
            Holder::Company(c) => &c.name,
        }
    }
    fn before_issue(&self, rng: &mut Rng, max_days: i64) -> NaiveDate {
        self.issue - Duration::days(rng.range(0, max_days))
    }

    /// The licence number (证照编号) as printed on the face.
    fn number(&self, type_name: &str, serial: &str, rng: &mut Rng) -> String {
        let district = DISTRICTS[self.holder.district()].0;
        let year = self.issue.year();
        match (type_name, self.holder) {
            ("居民身份证" | "机动车驾驶证", Holder::Citizen(c)) => c.number.clone(),
            ("营业执照", Holder::Company(c)) => c.uscc.clone(),
            ("食品经营许可证", Holder::Company(c)) => {
                let kind = match INDUSTRIES[c.industry].2 {
                    "食品销售经营者" => 1,
                    "餐饮服务经营者" => 2,
                    _ => 3,
                };
                format!("JY{kind}{district}{:07}", self.index % 10_000_000)
            }
            ("居民户口簿", _) => format!("{district}{:06}", self.index % 1_000_000),
            ("结婚证", _) => format!("J{district}-{year}-{:06}", self.index % 1_000_000),
            ("不动产权证书", _) => {
                let place = if self.holder.district() >= 6 {
                    DISTRICTS[self.holder.district()].1
                } else {
                    "福州市"
                };
                format!(
                    "闽({year}){place}不动产权第{:07}号",
                    self.index % 10_000_000
                )
            }
            ("专业技术人员职业资格证书", _) => {
                format!("闽人社证字第{year}-{:06}号", self.index % 1_000_000)
            }
            ("社会保障卡", _) => format!(
                "{}{}{:07}",
                char::from(b'A' + rng.below(26) as u8),
                rng.range(3501, 3502),
                self.index % 10_000_000
            ),
            _ => serial.to_owned(),
        }
    }

    /// A value for one face field that satisfies its schema, realistic where the name is known.
    fn value(&self, spec: &FieldSpec, rng: &mut Rng) -> Value {
        let c = self.citizen();
        let co = self.company();
        let district = self.holder.district();
        let text = |s: String| Value::String(s);
        let known: Option<Value> = match spec.name.as_str() {
            "姓名" | "持证人" | "权利人" => Some(text(self.holder_name().to_owned())),
            "户主姓名" => Some(text(if rng.chance(40) {
                self.holder_name().to_owned()
            } else {
                person_name(rng)
            })),
            "性别" => c.map(|c| text(if c.male { "男" } else { "女" }.to_owned())),
            "民族" => c.map(|c| text(c.nation.to_owned())),
            "出生" => c.map(|c| date(c.birth)),
            "住址" => c.map(|c| text(c.address.clone())),
            "坐落" => Some(text(
                home_address(district, rng)
                    .trim_start_matches("福建省福州市")
                    .to_owned(),
            )),
            "住所" | "经营场所" => co.map(|co| text(co.address.clone())),
            "签发机关" => Some(text(police_office(district))),
            "登记机关" => Some(text(format!(
                "{}{}民政局",
                if DISTRICTS[district].2 {
                    ""
                } else {
                    "福州市"
                },
                DISTRICTS[district].1
            ))),
            "初次领证日期" => Some(date(self.before_issue(rng, 15 * 365))),
            "批准日期" => Some(date(self.before_issue(rng, 60))),
            "登记日期" | "发卡日期" => Some(date(self.issue)),
            "成立日期" => co.map(|co| date(co.founded)),
            "有效期至" => self.until.map(date),
            "档案编号" => Some(text(format!("3501{:08}", self.index % 100_000_000))),
            "与户主关系" => Some(text(
                (*rng.pick(&["户主", "妻", "夫", "子", "女", "母", "父"])).to_owned(),
            )),
            "结婚证字号" => Some(text(format!(
                "J{}-{}-{:06}",
                DISTRICTS[district].0,
                self.issue.year(),
                self.index % 1_000_000
            ))),
            "配偶姓名" => Some(text(person_name(rng))),
            "不动产单元号" => Some(text(format!(
                "{}{:03}{:03}GB{:05}F{:08}",
                DISTRICTS[district].0,
                rng.range(1, 20),
                rng.range(1, 200),
                rng.range(1, 99_999),
                self.index % 100_000_000
            ))),
            "权利性质" => Some(text("出让/市场化商品房".to_owned())),
            "面积平方米" => Some(Value::from(rng.range(38, 220))),
            "使用期限" => {
                let start = self.issue.year() - rng.range(0, 25) as i32;
                Some(text(format!(
                    "{start}年07月01日起{}年06月30日止",
                    start + 70
                )))
            }
            "职业资格名称" => Some(text((*rng.pick(&QUALIFICATIONS)).to_owned())),
            "管理号" => Some(text(format!(
                "{}3501{:08}",
                self.issue.year(),
                self.index % 100_000_000
            ))),
            "社会保障号码" => c.map(|c| text(c.number.clone())),
            "卡号" => Some(text(format!(
                "{}{:08}",
                char::from(b'A' + rng.below(26) as u8),
                self.index % 100_000_000
            ))),
            "名称" | "经营者名称" => co.map(|co| text(co.name.clone())),
            "统一社会信用代码" => co.map(|co| text(co.uscc.clone())),
            "法定代表人" => co.map(|co| text(co.representative.clone())),
            "法定代表人证件号码" => co.map(|co| text(co.representative_id.clone())),
            "注册资本万元" => co.map(|co| Value::from(co.capital)),
            "经营范围" => co.map(|co| text(INDUSTRIES[co.industry].1.to_owned())),
            "经营项目" => Some(text(
                (*rng.pick(&[
                    "热食类食品制售",
                    "预包装食品（含冷藏冷冻食品）销售",
                    "热食类食品制售；冷食类食品制售；自制饮品制售",
                    "散装食品（含冷藏冷冻食品）销售",
                ]))
                .to_owned(),
            )),
            "主体业态" => co.map(|co| text(INDUSTRIES[co.industry].2.to_owned())),
            _ => None,
        };
        // Keep a known value only if it satisfies the schema (an enum may not list it).
        match known {
            Some(v) if fits(spec, &v) => v,
            _ => generic_value(spec, self.issue, rng),
        }
    }
}

fn fits(spec: &FieldSpec, v: &Value) -> bool {
    match (spec.field_type, v) {
        (FieldType::String, Value::String(s)) => !s.is_empty(),
        (FieldType::Date, Value::String(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        (FieldType::Enum, Value::String(s)) => spec.values.contains(s),
        (FieldType::Integer, Value::Number(n)) => n.is_i64(),
        _ => false,
    }
}

/// A schema-valid value for a field the generator knows nothing about.
fn generic_value(spec: &FieldSpec, issue: NaiveDate, rng: &mut Rng) -> Value {
    match spec.field_type {
        FieldType::String => Value::String(format!("{}{:06}", spec.name, rng.below(1_000_000))),
        FieldType::Date => date(issue - Duration::days(rng.range(0, 365))),
        FieldType::Enum => Value::String(
            spec.values
                .get(rng.below(spec.values.len() as u64) as usize)
                .cloned()
                .unwrap_or_default(),
        ),
        FieldType::Integer => Value::from(rng.range(1, 1000)),
    }
}

// ----- holders and how many licences each holds --------------------------------------------------

/// Walks the population holder by holder, handing out each holder's licences in turn.
struct Planner<'a> {
    world: &'a World,
    holder_no: u64,
    current: Option<(Arc<Holder>, Vec<usize>)>,
    histogram: BTreeMap<u32, u64>,
}

impl<'a> Planner<'a> {
    fn new(world: &'a World) -> Self {
        Self {
            world,
            holder_no: 0,
            current: None,
            histogram: BTreeMap::new(),
        }
    }

    fn next_item(&mut self, index: u64) -> anyhow::Result<Item> {
        loop {
            if let Some((holder, types)) = self.current.as_mut() {
                if let Some(type_index) = types.pop() {
                    return Ok(Item {
                        index,
                        holder: holder.clone(),
                        type_index,
                    });
                }
            }
            self.new_holder()?;
        }
    }

    /// A holder and the types of the licences they hold (in reverse order of issue).
    fn new_holder(&mut self) -> anyhow::Result<()> {
        let w = self.world;
        let h = self.holder_no;
        self.holder_no += 1;
        let mut rng = Rng::new(w.seed, STREAM_HOLDER, h);
        // About one holder in eight is a company (when the catalogue has company types).
        let company = !w.company_types.is_empty() && (w.citizen_types.is_empty() || rng.chance(12));
        let (holder, pool, wanted) = if company {
            let n = [1, 1, 1, 2, 2, 3][rng.below(6) as usize];
            (
                w.company(h, &mut rng).map(Holder::Company),
                &w.company_types,
                n,
            )
        } else {
            // 1–5 licences for 95 % of citizens, a few with more (several properties, qualifications).
            let n = 1 + rng.weighted(&[22, 26, 22, 15, 10, 3, 1, 1]);
            (
                w.citizen(h, &mut rng).map(Holder::Citizen),
                &w.citizen_types,
                n,
            )
        };
        let holder = holder.with_context(|| format!("holder {h}"))?;
        let mut types = vec![pool[0]];
        let mut rest: Vec<usize> = pool[1..].to_vec();
        while types.len() < wanted && !rest.is_empty() {
            let weights: Vec<u64> = rest.iter().map(|&i| w.types[i].weight).collect();
            let k = rng.weighted(&weights);
            let t = rest[k];
            if !w.types[t].repeatable {
                rest.remove(k);
            }
            types.push(t);
        }
        *self.histogram.entry(types.len() as u32).or_default() += 1;
        types.reverse();
        self.current = Some((Arc::new(holder), types));
        Ok(())
    }

    fn finish(self, summary: &mut GenSummary) {
        summary.holders = self.holder_no;
        summary.licences_per_holder = self.histogram;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::DidKey;
    use crate::vault::Deposited;

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    fn opt(dir: &Path, count: u64, seed: u64) -> GenOpt {
        GenOpt {
            count,
            out: dir.join(format!("gen-{seed}-{count}.jsonl")),
            seed,
            keys: root().join("keys"),
            fixtures: root().join("fixtures"),
            ids: Some(dir.join(format!("ids-{seed}-{count}.txt"))),
            ids_max: 10,
            quiet: true,
            skip: 0,
        }
    }

    #[test]
    fn skip_continues_the_sequence_where_a_shorter_run_ended() {
        let dir = tempfile::tempdir().unwrap();
        let whole = opt(dir.path(), 500, 4);
        generate(&whole).unwrap();
        let tail = GenOpt {
            out: dir.path().join("tail.jsonl"),
            skip: 300,
            count: 200,
            ids: None,
            ..opt(dir.path(), 200, 4)
        };
        let s = generate(&tail).unwrap();
        assert_eq!((s.count, s.per_type.values().sum::<u64>()), (200, 200));
        let whole = std::fs::read_to_string(&whole.out).unwrap();
        let lines: Vec<&str> = whole.lines().collect();
        assert_eq!(
            std::fs::read_to_string(&tail.out).unwrap(),
            lines[300..].join("\n") + "\n"
        );
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_people() {
        let dir = tempfile::tempdir().unwrap();
        let a = opt(dir.path(), 300, 7);
        let s = generate(&a).unwrap();
        assert_eq!(s.count, 300);
        let first = std::fs::read(&a.out).unwrap();
        let b = GenOpt {
            out: dir.path().join("again.jsonl"),
            ..opt(dir.path(), 300, 7)
        };
        generate(&b).unwrap();
        assert_eq!(first, std::fs::read(&b.out).unwrap());
        let c = opt(dir.path(), 300, 8);
        generate(&c).unwrap();
        assert_ne!(first, std::fs::read(&c.out).unwrap());
        // Ids are spread evenly: every 30th of 300 for at most 10.
        let ids = std::fs::read_to_string(a.ids.unwrap()).unwrap();
        assert_eq!(ids.lines().count(), 10);
        for id in ids.lines() {
            id.parse::<LicenceId>().unwrap();
        }
    }

    #[test]
    fn most_holders_hold_one_to_five_and_every_type_occurs() {
        let dir = tempfile::tempdir().unwrap();
        let s = generate(&opt(dir.path(), 3000, 1)).unwrap();
        let holders: u64 = s.licences_per_holder.values().sum();
        let few: u64 = s
            .licences_per_holder
            .iter()
            .filter(|(n, _)| (1..=5).contains(*n))
            .map(|(_, c)| c)
            .sum();
        assert!(few * 10 >= holders * 9, "{:?}", s.licences_per_holder);
        assert_eq!(s.per_type.len(), 9, "{:?}", s.per_type);
        assert_eq!(s.per_type.values().sum::<u64>(), 3000);
    }

    #[test]
    fn every_generated_licence_deposits_into_a_vault_with_the_demo_registries() {
        let dir = tempfile::tempdir().unwrap();
        let o = opt(dir.path(), 1200, 3);
        generate(&o).unwrap();
        let data = dir.path().join("data");
        let keys = root().join("keys");
        let vault = super::super::open_vault(&data, None, Some(keys.as_path()), vec![]).unwrap();
        for a in crate::demo::agencies(&root().join("fixtures")).unwrap() {
            vault.create_agency(a).unwrap();
        }
        for t in crate::demo::catalogue(&root().join("fixtures")).unwrap() {
            vault.put_type(t).unwrap();
        }
        let text = std::fs::read_to_string(&o.out).unwrap();
        let docs: Vec<Value> = text
            .lines()
            .map(|l| jcs::parse(l.as_bytes()).unwrap())
            .collect();
        assert_eq!(docs.len(), 1200);
        // Each line is already canonical: what the vault will store.
        for (line, doc) in text.lines().zip(&docs).take(50) {
            assert_eq!(line.as_bytes(), jcs::canonicalize(doc));
        }
        let mut holders = std::collections::BTreeSet::new();
        for batch in docs.chunks(500) {
            for r in vault.deposit_batch(None, batch, Utc::now()).unwrap() {
                assert!(matches!(r, Ok(Deposited::Created(_))), "{r:?}");
            }
        }
        for d in &docs {
            let h = &d["credentialSubject"]["holder"];
            holders.insert(format!("{}:{}", h["codeType"], h["code"]));
        }
        assert!(holders.len() > 300, "{} holders", holders.len());
        // Every licence is signed with its agency's current key.
        let reg = vault.registries();
        for d in &docs {
            let vm = d["proof"]["verificationMethod"].as_str().unwrap();
            let key = DidKey::from_verification_method(vm).unwrap();
            let (_, k) = reg.key(&key).unwrap();
            assert!(k.retired_at.is_none() && k.compromised_at.is_none(), "{vm}");
        }
    }
}
