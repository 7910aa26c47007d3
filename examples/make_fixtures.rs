//! Generates the signed sample licences in `fixtures/licences/` and the bad fixtures (with their
//! README) in `fixtures/bad/`, reproducibly: the data and every `proof.created` are fixed, and
//! Ed25519 signatures are deterministic, so the same inputs always give the same bytes.
//!
//! Regenerate (after changing this file, `fixtures/catalogue.json`, `fixtures/agencies.json` or a
//! demo key in `keys/`):
//!
//! ```text
//! cargo run --example make_fixtures
//! ```
//!
//! Check that what is on disk is exactly what the generator produces, without writing anything
//! (exit 1 listing the differing, missing and extra files otherwise) — the golden test runs this:
//!
//! ```text
//! cargo run --example make_fixtures -- --check
//! ```
//!
//! Both directories belong to this generator: a regeneration removes files it does not produce,
//! and `--check` reports them. Before writing or checking, the generator verifies its own output
//! with the library's verifier at a fixed time ([`CHECK_TIME`]): every sample must be valid (as
//! presented and as deposited), every holder must hold all the types of at least one matter, and
//! every bad file must fail with its expected reason as the first failing check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, ensure, Context as _};
use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use serde_json::{Map, Value};

use licence_vault::codes::{
    CitizenId, LicenceId, TypeCode, Uscc, CODE_TYPE_CITIZEN, CODE_TYPE_USCC,
};
use licence_vault::keys::Signer;
use licence_vault::licence::{LICENCE_TYPE, USCC_URN_PREFIX, VC_CONTEXT};
use licence_vault::registry::Registries;
use licence_vault::verdict::Reason;
use licence_vault::verify::{self, Evidence, RecordFacts};
use licence_vault::{demo, jcs, proof};

/// The time at which the generator checks its own output (after every `validFrom` of the samples).
const CHECK_TIME: &str = "2026-11-15T00:00:00Z";

// ----- agencies, types and holders ---------------------------------------------------------------

/// An issuing agency of `fixtures/agencies.json` and the file name of its current key in `keys/`.
struct AgencyDef {
    uscc: &'static str,
    key: &'static str,
}

const SCJGJ: AgencyDef = AgencyDef {
    uscc: "113501000035920161",
    key: "scjgj",
};
const GAJ: AgencyDef = AgencyDef {
    uscc: "113501000035902487",
    key: "gaj",
};
const MZJ: AgencyDef = AgencyDef {
    uscc: "11350100003591136H",
    key: "mzj",
};
const ZRZYJ: AgencyDef = AgencyDef {
    uscc: "11350100MB01375927",
    key: "zrzyj",
};
const RSJ: AgencyDef = AgencyDef {
    uscc: "11350100003590475C",
    key: "rsj",
};

const YYZZ: &str = "11100000000013338W001"; // 营业执照
const SPJY: &str = "11100000000013338W012"; // 食品经营许可证
const SFZ: &str = "11100000000019713D001"; // 居民身份证
const JSZ: &str = "11100000000019713D002"; // 机动车驾驶证
const HKB: &str = "11100000000019713D003"; // 居民户口簿
const JHZ: &str = "11100000000013127D001"; // 结婚证
const BDC: &str = "111000000000134900001"; // 不动产权证书
const ZYZG: &str = "11100000717800963N001"; // 专业技术人员职业资格证书
const SBK: &str = "11100000717800963N002"; // 社会保障卡
/// Not in the catalogue (the defining authority's USCC is valid).
const UNCATALOGUED: &str = "11100000000013338W099";

const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const MOD37_ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A synthetic citizen; the identity number is built from region, birth date and sequence.
struct Citizen {
    short: &'static str,
    name: &'static str,
    male: bool,
    nation: &'static str,
    birth: &'static str,
    /// GB/T 2260 code of the place of first registration (the first 6 digits of the number).
    region: &'static str,
    /// The 3-digit sequence code; its last digit is odd for men, even for women.
    seq: &'static str,
    /// 住址 on the identity card.
    address: &'static str,
    /// The police office that issues the identity card, and its region code.
    police: &'static str,
    district: &'static str,
}

impl Citizen {
    fn number(&self) -> anyhow::Result<String> {
        ensure!(
            self.seq.len() == 3,
            "{}: sequence code must be 3 digits",
            self.short
        );
        let odd = self.seq.bytes().last().is_some_and(|b| (b - b'0') % 2 == 1);
        ensure!(
            odd == self.male,
            "{}: the sequence code's parity must match the sex",
            self.short
        );
        let first17 = format!("{}{}{}", self.region, self.birth.replace('-', ""), self.seq);
        let check = CitizenId::check_char(&first17).map_err(|e| anyhow!("{}: {e}", self.short))?;
        Ok(format!("{first17}{check}"))
    }
    fn sex(&self) -> &'static str {
        if self.male {
            "男"
        } else {
            "女"
        }
    }
    fn holder(&self) -> anyhow::Result<Holder> {
        Ok(Holder {
            name: self.name.into(),
            code_type: CODE_TYPE_CITIZEN,
            code: self.number()?,
        })
    }
}

/// A synthetic company; the check character of its USCC is computed from the first 17 characters.
struct Company {
    short: &'static str,
    name: &'static str,
    uscc17: &'static str,
    /// The legal representative named on the 营业执照, one of the demo citizens.
    representative: &'static Citizen,
    capital: i64,
    founded: &'static str,
    address: &'static str,
    scope: &'static str,
    district: &'static str,
}

impl Company {
    fn uscc(&self) -> anyhow::Result<String> {
        let check = Uscc::check_char(self.uscc17).map_err(|e| anyhow!("{}: {e}", self.short))?;
        Ok(format!("{}{check}", self.uscc17))
    }
    fn holder(&self) -> anyhow::Result<Holder> {
        Ok(Holder {
            name: self.name.into(),
            code_type: CODE_TYPE_USCC,
            code: self.uscc()?,
        })
    }
}

const LIN: Citizen = Citizen {
    short: "linzhiqiang",
    name: "林志强",
    male: true,
    nation: "汉",
    birth: "1985-03-12",
    region: "350102",
    seq: "013",
    address: "福建省福州市鼓楼区五四路128号3栋502室",
    police: "福州市公安局鼓楼分局",
    district: "350102",
};
const CHEN: Citizen = Citizen {
    short: "chenyating",
    name: "陈雅婷",
    male: false,
    nation: "汉",
    birth: "1988-09-23",
    region: "350103",
    seq: "024",
    address: "福建省福州市鼓楼区五四路128号3栋502室",
    police: "福州市公安局鼓楼分局",
    district: "350102",
};
const HUANG: Citizen = Citizen {
    short: "huangjianhua",
    name: "黄建华",
    male: true,
    nation: "汉",
    birth: "1979-11-05",
    region: "350104",
    seq: "057",
    address: "福建省福州市仓山区南江滨西大道196号金山碧水7栋1203室",
    police: "福州市公安局仓山分局",
    district: "350104",
};
const ZHENG: Citizen = Citizen {
    short: "zhenglijuan",
    name: "郑丽娟",
    male: false,
    nation: "汉",
    birth: "1992-06-17",
    region: "350111",
    seq: "128",
    address: "福建省福州市晋安区福新中路89号东方名城5栋801室",
    police: "福州市公安局晋安分局",
    district: "350111",
};
const WANG: Citizen = Citizen {
    short: "wanghaifeng",
    name: "王海峰",
    male: true,
    nation: "汉",
    birth: "1990-11-28",
    region: "350105",
    seq: "035",
    address: "福建省福州市马尾区江滨东大道68号世茂云图2栋1506室",
    police: "福州市公安局马尾分局",
    district: "350105",
};
const WU: Citizen = Citizen {
    short: "wuxiaoyan",
    name: "吴晓燕",
    male: false,
    nation: "畲",
    birth: "1996-12-03",
    region: "350102",
    seq: "046",
    address: "福建省福州市鼓楼区温泉公园路35号2座604室",
    police: "福州市公安局鼓楼分局",
    district: "350102",
};
const ZHANG: Citizen = Citizen {
    short: "zhangwei",
    name: "张伟",
    male: true,
    nation: "汉",
    birth: "1988-08-08",
    region: "350121",
    seq: "071",
    address: "福建省福州市闽侯县上街镇学府南路56号榕发观湖3栋902室",
    police: "闽侯县公安局",
    district: "350121",
};
const LI: Citizen = Citizen {
    short: "liminghui",
    name: "李明辉",
    male: true,
    nation: "汉",
    birth: "2001-04-26",
    region: "350112",
    seq: "093",
    address: "福建省福州市长乐区吴航街道和平路36号",
    police: "福州市公安局长乐分局",
    district: "350112",
};

const MINWEI: Company = Company {
    short: "minwei",
    name: "福州闽味餐饮管理有限公司",
    uscc17: "91350102MA2XN1A2K",
    representative: &LIN,
    capital: 200,
    founded: "2017-04-12",
    address: "福建省福州市鼓楼区杨桥东路18号三坊七巷商业街B区2层",
    scope: "餐饮服务；餐饮管理；食品销售（仅销售预包装食品）",
    district: "350102",
};
const XINYUAN: Company = Company {
    short: "xinyuan",
    name: "福州台江鑫源食品贸易有限公司",
    uscc17: "91350103MA31C4H6X",
    representative: &HUANG,
    capital: 500,
    founded: "2018-01-09",
    address: "福建省福州市台江区江滨西大道100号融侨中心21层2103室",
    scope: "食品销售；食用农产品批发；货物进出口",
    district: "350103",
};
const ZHILIAN: Company = Company {
    short: "zhilian",
    name: "福州仓山智联信息科技有限公司",
    uscc17: "91350104MA8T2Q3L8",
    representative: &WANG,
    capital: 1000,
    founded: "2021-06-30",
    address: "福建省福州市仓山区金山大道618号橘园洲工业园25号楼4层",
    scope: "软件开发；信息系统集成服务；信息技术咨询服务",
    district: "350104",
};
const RONGCHENG: Company = Company {
    short: "rongcheng",
    name: "福州晋安榕城物业服务有限公司",
    uscc17: "91350111MA2Y7WBC1",
    representative: &ZHENG,
    capital: 300,
    founded: "2017-09-21",
    address: "福建省福州市晋安区福新中路89号东方名城商务楼8层",
    scope: "物业管理；停车场服务；单位食堂餐饮服务",
    district: "350111",
};

struct Holder {
    name: String,
    code_type: &'static str,
    code: String,
}

// ----- an ordered JSON tree, so that files read in the order of SPEC §3 ----------------------------

/// JSON with members in the order written (serde_json's map sorts them), and room for the
/// malformed fixtures: repeated member names and literal text.
#[derive(Debug, Clone)]
enum J {
    Str(String),
    Int(i64),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
    /// JSON text written as is.
    Raw(String),
}

fn s(v: impl Into<String>) -> J {
    J::Str(v.into())
}

fn obj<const N: usize>(entries: [(&str, J); N]) -> J {
    J::Obj(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    )
}

/// The members of a proof, in the order of SPEC §3.
const PROOF_ORDER: [&str; 7] = [
    "type",
    "cryptosuite",
    "created",
    "verificationMethod",
    "proofPurpose",
    "@context",
    "proofValue",
];

impl J {
    fn to_value(&self) -> anyhow::Result<Value> {
        Ok(match self {
            J::Str(v) => Value::String(v.clone()),
            J::Int(i) => Value::from(*i),
            J::Arr(items) => Value::Array(
                items
                    .iter()
                    .map(J::to_value)
                    .collect::<anyhow::Result<_>>()?,
            ),
            J::Obj(entries) => {
                let mut map = Map::new();
                for (k, v) in entries {
                    ensure!(
                        map.insert(k.clone(), v.to_value()?).is_none(),
                        "duplicate member {k}"
                    );
                }
                Value::Object(map)
            }
            J::Raw(text) => bail!("literal JSON text {text:?} has no value"),
        })
    }

    /// The tree of a plain value (objects keep serde_json's order).
    fn from_value(v: &Value) -> anyhow::Result<J> {
        Ok(match v {
            Value::String(v) => J::Str(v.clone()),
            Value::Number(n) => J::Int(n.as_i64().ok_or_else(|| anyhow!("{n} is not an integer"))?),
            Value::Array(items) => J::Arr(
                items
                    .iter()
                    .map(J::from_value)
                    .collect::<anyhow::Result<_>>()?,
            ),
            Value::Object(map) => J::Obj(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), J::from_value(v)?)))
                    .collect::<anyhow::Result<_>>()?,
            ),
            other => bail!("unexpected JSON value {other}"),
        })
    }

    /// Pretty JSON text as serde_json writes it (2-space indent), with a trailing newline.
    fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, indent: usize) {
        match self {
            J::Str(v) => write_string(v, out),
            J::Int(i) => out.push_str(&i.to_string()),
            J::Raw(text) => out.push_str(text),
            J::Arr(items) if items.is_empty() => out.push_str("[]"),
            J::Obj(entries) if entries.is_empty() => out.push_str("{}"),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    out.push_str(&" ".repeat(indent + 2));
                    item.write(out, indent + 2);
                }
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                out.push(']');
            }
            J::Obj(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    out.push_str(&" ".repeat(indent + 2));
                    write_string(k, out);
                    out.push_str(": ");
                    v.write(out, indent + 2);
                }
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                out.push('}');
            }
        }
    }

    fn entries_mut(&mut self, path: &[&str]) -> anyhow::Result<&mut Vec<(String, J)>> {
        let mut node = self;
        for key in path {
            let J::Obj(entries) = node else {
                bail!("{key}: parent is not an object")
            };
            node = entries
                .iter_mut()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .ok_or_else(|| anyhow!("no member {key}"))?;
        }
        match node {
            J::Obj(entries) => Ok(entries),
            _ => bail!("{path:?} is not an object"),
        }
    }

    /// Replaces the member at `path` (which must exist).
    fn set(&mut self, path: &[&str], value: J) -> anyhow::Result<()> {
        let (last, parent) = path.split_last().ok_or_else(|| anyhow!("empty path"))?;
        let entries = self.entries_mut(parent)?;
        let slot = entries
            .iter_mut()
            .find(|(k, _)| k == last)
            .ok_or_else(|| anyhow!("no member {last}"))?;
        slot.1 = value;
        Ok(())
    }

    fn remove(&mut self, path: &[&str]) -> anyhow::Result<()> {
        let (last, parent) = path.split_last().ok_or_else(|| anyhow!("empty path"))?;
        let entries = self.entries_mut(parent)?;
        let i = entries
            .iter()
            .position(|(k, _)| k == last)
            .ok_or_else(|| anyhow!("no member {last}"))?;
        entries.remove(i);
        Ok(())
    }

    fn get_str(&self, path: &[&str]) -> anyhow::Result<&str> {
        let mut node = self;
        for key in path {
            let J::Obj(entries) = node else {
                bail!("{key}: parent is not an object")
            };
            node = entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .ok_or_else(|| anyhow!("no member {key}"))?;
        }
        match node {
            J::Str(v) => Ok(v),
            _ => bail!("{path:?} is not a string"),
        }
    }
}

/// A JSON string as serde_json writes it: UTF-8 as is, quotes, backslashes and controls escaped.
fn write_string(v: &str, out: &mut String) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

// ----- licence specifications --------------------------------------------------------------------

/// Everything that makes one licence document.
struct Spec {
    /// The file name without number and extension, e.g. `sfz-linzhiqiang`.
    stem: String,
    type_code: &'static str,
    /// Only for types that are not in the catalogue; otherwise the catalogue's name.
    type_name: Option<&'static str>,
    issuer: &'static AgencyDef,
    /// The key file that signs; the issuer's current key unless a fixture says otherwise.
    key: &'static str,
    holder: Holder,
    number: String,
    issue_date: String,
    jurisdiction: &'static str,
    valid_from: String,
    valid_until: Option<String>,
    created: String,
    /// The stem of the sample this one renews (same type, issuer and serial, next version).
    renews: Option<&'static str>,
    fields: Vec<(&'static str, J)>,
}

/// A licence type as the samples issue it: file-name tag, type code and issuing agency.
struct Kind {
    tag: &'static str,
    type_code: &'static str,
    issuer: &'static AgencyDef,
}

const SFZ_KIND: Kind = Kind {
    tag: "sfz",
    type_code: SFZ,
    issuer: &GAJ,
};
const JSZ_KIND: Kind = Kind {
    tag: "jsz",
    type_code: JSZ,
    issuer: &GAJ,
};
const HKB_KIND: Kind = Kind {
    tag: "hkb",
    type_code: HKB,
    issuer: &GAJ,
};
const JHZ_KIND: Kind = Kind {
    tag: "jhz",
    type_code: JHZ,
    issuer: &MZJ,
};
const BDC_KIND: Kind = Kind {
    tag: "bdc",
    type_code: BDC,
    issuer: &ZRZYJ,
};
const ZYZG_KIND: Kind = Kind {
    tag: "zyzg",
    type_code: ZYZG,
    issuer: &RSJ,
};
const SBK_KIND: Kind = Kind {
    tag: "sbk",
    type_code: SBK,
    issuer: &RSJ,
};
const YYZZ_KIND: Kind = Kind {
    tag: "yyzz",
    type_code: YYZZ,
    issuer: &SCJGJ,
};
const SPJY_KIND: Kind = Kind {
    tag: "spjy",
    type_code: SPJY,
    issuer: &SCJGJ,
};

fn spec(
    kind: &Kind,
    holder_short: &str,
    holder: Holder,
    number: String,
    issue_date: &str,
    jurisdiction: &'static str,
    fields: Vec<(&'static str, J)>,
) -> Spec {
    Spec {
        stem: format!("{}-{holder_short}", kind.tag),
        type_code: kind.type_code,
        type_name: None,
        issuer: kind.issuer,
        key: kind.issuer.key,
        holder,
        number,
        issue_date: issue_date.to_owned(),
        jurisdiction,
        valid_from: format!("{issue_date}T00:00:00Z"),
        valid_until: None,
        // 09:30 in Fuzhou on the day of issue.
        created: format!("{issue_date}T01:30:00Z"),
        renews: None,
        fields,
    }
}

impl Spec {
    fn until(mut self, last_day: &str) -> Self {
        self.valid_until = Some(format!("{last_day}T23:59:59Z"));
        self
    }
    fn until_opt(mut self, last_day: Option<String>) -> Self {
        self.valid_until = last_day.map(|d| format!("{d}T23:59:59Z"));
        self
    }
}

fn day(text: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| format!("{text} is not a date"))
}

/// The last day of a term of `years` starting on `first` (`2024-02-20`, 10 → `2034-02-19`).
fn last_day(first: &str, years: i32) -> anyhow::Result<String> {
    let d = day(first)?;
    let y = d.year() + years;
    let end = NaiveDate::from_ymd_opt(y, d.month(), d.day())
        .or_else(|| NaiveDate::from_ymd_opt(y, d.month(), d.day() - 1))
        .and_then(|e| e.pred_opt())
        .ok_or_else(|| anyhow!("no date {years} years after {first}"))?;
    Ok(end.format("%Y-%m-%d").to_string())
}

/// Identity cards are valid 5, 10 or 20 years, or for life from 46, by age at issue (GB 11643 practice).
fn id_card_term(birth: &str, issue: &str) -> anyhow::Result<Option<i32>> {
    let (b, i) = (day(birth)?, day(issue)?);
    let age = i.year() - b.year() - i32::from((i.month(), i.day()) < (b.month(), b.day()));
    Ok(match age {
        ..16 => Some(5),
        16..=25 => Some(10),
        26..=45 => Some(20),
        _ => None,
    })
}

fn sfz(c: &Citizen, issue: &str) -> anyhow::Result<Spec> {
    let fields = vec![
        ("姓名", s(c.name)),
        ("性别", s(c.sex())),
        ("民族", s(c.nation)),
        ("出生", s(c.birth)),
        ("住址", s(c.address)),
        ("签发机关", s(c.police)),
    ];
    let until = id_card_term(c.birth, issue)?
        .map(|y| last_day(issue, y))
        .transpose()?;
    Ok(spec(
        &SFZ_KIND,
        c.short,
        c.holder()?,
        c.number()?,
        issue,
        c.district,
        fields,
    )
    .until_opt(until))
}

fn jsz(c: &Citizen, issue: &str, class: &str, first: &str, archive: &str) -> anyhow::Result<Spec> {
    let fields = vec![
        ("姓名", s(c.name)),
        ("性别", s(c.sex())),
        ("准驾车型", s(class)),
        ("初次领证日期", s(first)),
        ("档案编号", s(archive)),
    ];
    Ok(spec(
        &JSZ_KIND,
        c.short,
        c.holder()?,
        c.number()?,
        issue,
        "350100",
        fields,
    ))
}

fn hkb(
    c: &Citizen,
    issue: &str,
    head: &str,
    relation: &str,
    household: &str,
) -> anyhow::Result<Spec> {
    let fields = vec![
        ("户主姓名", s(head)),
        ("户别", s("家庭户")),
        ("住址", s(c.address)),
        ("与户主关系", s(relation)),
    ];
    Ok(spec(
        &HKB_KIND,
        c.short,
        c.holder()?,
        household.into(),
        issue,
        c.district,
        fields,
    ))
}

fn jhz(
    c: &Citizen,
    registered: &str,
    spouse: &str,
    number: &str,
    office: &str,
    district: &'static str,
) -> anyhow::Result<Spec> {
    let fields = vec![
        ("持证人", s(c.name)),
        ("登记日期", s(registered)),
        ("结婚证字号", s(number)),
        ("配偶姓名", s(spouse)),
        ("登记机关", s(office)),
    ];
    Ok(spec(
        &JHZ_KIND,
        c.short,
        c.holder()?,
        number.into(),
        registered,
        district,
        fields,
    ))
}

struct Property {
    number: &'static str,
    share: &'static str,
    location: &'static str,
    unit: &'static str,
    area: i64,
    term: &'static str,
    district: &'static str,
}

fn bdc(c: &Citizen, issue: &str, p: &Property) -> anyhow::Result<Spec> {
    let fields = vec![
        ("权利人", s(c.name)),
        ("共有情况", s(p.share)),
        ("坐落", s(p.location)),
        ("不动产单元号", s(p.unit)),
        ("权利性质", s("出让/市场化商品房")),
        ("用途", s("城镇住宅用地/住宅")),
        ("面积平方米", J::Int(p.area)),
        ("使用期限", s(p.term)),
    ];
    Ok(spec(
        &BDC_KIND,
        c.short,
        c.holder()?,
        p.number.into(),
        issue,
        p.district,
        fields,
    ))
}

fn zyzg(
    c: &Citizen,
    issue: &str,
    title: &str,
    level: &str,
    approved: &str,
    management: &str,
    number: &str,
) -> anyhow::Result<Spec> {
    let fields = vec![
        ("姓名", s(c.name)),
        ("职业资格名称", s(title)),
        ("资格级别", s(level)),
        ("批准日期", s(approved)),
        ("管理号", s(management)),
    ];
    Ok(spec(
        &ZYZG_KIND,
        c.short,
        c.holder()?,
        number.into(),
        issue,
        "350100",
        fields,
    ))
}

fn sbk(c: &Citizen, issue: &str, card: &str) -> anyhow::Result<Spec> {
    let fields = vec![
        ("姓名", s(c.name)),
        ("社会保障号码", s(c.number()?)),
        ("发卡日期", s(issue)),
        ("卡号", s(card)),
    ];
    let until = last_day(issue, 10)?;
    Ok(spec(
        &SBK_KIND,
        c.short,
        c.holder()?,
        card.into(),
        issue,
        "350100",
        fields,
    )
    .until(&until))
}

fn yyzz(co: &Company, issue: &str) -> anyhow::Result<Spec> {
    let fields = vec![
        ("名称", s(co.name)),
        ("统一社会信用代码", s(co.uscc()?)),
        ("类型", s("有限责任公司")),
        ("法定代表人", s(co.representative.name)),
        ("法定代表人证件号码", s(co.representative.number()?)),
        ("注册资本万元", J::Int(co.capital)),
        ("成立日期", s(co.founded)),
        ("住所", s(co.address)),
        ("经营范围", s(co.scope)),
    ];
    Ok(spec(
        &YYZZ_KIND,
        co.short,
        co.holder()?,
        co.uscc()?,
        issue,
        co.district,
        fields,
    ))
}

/// A food business licence: 5 years, numbered JY + business kind + region + sequence.
fn spjy(co: &Company, issue: &str, kind: &str, items: &str, number: &str) -> anyhow::Result<Spec> {
    let until = last_day(issue, 5)?;
    let fields = vec![
        ("经营者名称", s(co.name)),
        ("法定代表人", s(co.representative.name)),
        ("经营场所", s(co.address)),
        ("主体业态", s(kind)),
        ("经营项目", s(items)),
        ("有效期至", s(until.clone())),
    ];
    Ok(spec(
        &SPJY_KIND,
        co.short,
        co.holder()?,
        number.into(),
        issue,
        co.district,
        fields,
    )
    .until(&until))
}

// ----- the fixtures ------------------------------------------------------------------------------

/// The sample licences, in deposit (file-name) order.
fn samples() -> anyhow::Result<Vec<Spec>> {
    let lin_flat = Property {
        number: "闽(2024)福州市不动产权第0035817号",
        share: "共同共有",
        location: "鼓楼区五四路128号3栋502室",
        unit: "350102005003GB00128F00030502",
        area: 98,
        term: "2004年06月30日起2074年06月29日止",
        district: "350102",
    };
    let mut v002 = jsz(&LIN, "2026-03-10", "C1", "2014-03-20", "350100287431")?.until("2036-03-09");
    v002.stem.push_str("-v002");
    v002.renews = Some("jsz-linzhiqiang");
    Ok(vec![
        // 住房公积金提取 (身份证 + 不动产 + 结婚证) and 驾驶证期满换证 (身份证 + 驾驶证).
        sfz(&LIN, "2024-02-20")?,
        jhz(
            &LIN,
            "2024-05-20",
            CHEN.name,
            "J350102-2024-001872",
            "福州市鼓楼区民政局",
            "350102",
        )?,
        bdc(&LIN, "2024-06-18", &lin_flat)?,
        jsz(&LIN, "2024-03-15", "C1", "2014-03-20", "350100287431")?.until("2030-03-19"),
        v002,
        // 住房公积金提取 and 新生儿入户登记 (身份证 + 户口簿 + 结婚证).
        sfz(&CHEN, "2024-07-02")?,
        jhz(
            &CHEN,
            "2024-05-20",
            LIN.name,
            "J350102-2024-001872",
            "福州市鼓楼区民政局",
            "350102",
        )?,
        bdc(
            &CHEN,
            "2024-06-18",
            &Property {
                number: "闽(2024)福州市不动产权第0035818号",
                ..lin_flat
            },
        )?,
        hkb(&CHEN, "2024-07-09", LIN.name, "妻", "350102004417")?,
        // 职业资格评审, 失业保险金申领, 驾驶证期满换证.
        sfz(&HUANG, "2025-01-08")?,
        zyzg(
            &HUANG,
            "2024-01-26",
            "工程技术人员职称（土木建筑工程）",
            "高级",
            "2023-12-28",
            "2023350100000417",
            "闽人社高工证字第2023-0417号",
        )?,
        sbk(&HUANG, "2024-04-11", "D35012873")?,
        jsz(&HUANG, "2024-09-03", "C1", "2003-05-16", "350100104582")?,
        // 失业保险金申领.
        sfz(&ZHENG, "2024-10-15")?,
        sbk(&ZHENG, "2025-03-06", "E35019624")?,
        hkb(&ZHENG, "2024-10-22", ZHENG.name, "户主", "350111020683")?,
        // 驾驶证期满换证, 职业资格评审.
        sfz(&WANG, "2025-05-20")?,
        jsz(&WANG, "2025-06-03", "B2", "2014-08-09", "350100316270")?.until("2030-08-08"),
        zyzg(
            &WANG,
            "2025-01-10",
            "经济专业技术资格（人力资源管理）",
            "中级",
            "2024-12-20",
            "2024350100001356",
            "闽人社经证字第2024-1356号",
        )?,
        // 职业资格评审, 失业保险金申领.
        sfz(&WU, "2024-12-16")?,
        zyzg(
            &WU,
            "2024-11-08",
            "会计专业技术资格",
            "中级",
            "2024-10-25",
            "2024350100002281",
            "闽人社会证字第2024-2281号",
        )?,
        sbk(&WU, "2024-08-22", "C35017405")?,
        // 住房公积金提取, 新生儿入户登记.
        sfz(&ZHANG, "2025-02-26")?,
        bdc(
            &ZHANG,
            "2025-04-09",
            &Property {
                number: "闽(2025)闽侯县不动产权第0012604号",
                share: "单独所有",
                location: "闽侯县上街镇学府南路56号榕发观湖3栋902室",
                unit: "350121104206GB00056F00030902",
                area: 112,
                term: "2017年09月01日起2087年08月31日止",
                district: "350121",
            },
        )?,
        jhz(
            &ZHANG,
            "2025-10-10",
            "刘芳",
            "J350121-2025-000936",
            "闽侯县民政局",
            "350121",
        )?,
        hkb(&ZHANG, "2025-04-16", ZHANG.name, "户主", "350121031158")?,
        // 驾驶证期满换证.
        sfz(&LI, "2024-05-08")?,
        jsz(&LI, "2025-07-04", "C1", "2019-07-02", "350100452316")?.until("2035-07-01"),
        // 食品经营许可证新办 (营业执照) and 延续 (营业执照 + 食品经营许可证).
        yyzz(&MINWEI, "2024-04-18")?,
        spjy(
            &MINWEI,
            "2025-05-20",
            "餐饮服务经营者",
            "热食类食品制售；冷食类食品制售；自制饮品制售",
            "JY23501020046518",
        )?,
        yyzz(&XINYUAN, "2024-11-05")?,
        spjy(
            &XINYUAN,
            "2025-08-26",
            "食品销售经营者",
            "预包装食品（含冷藏冷冻食品）销售；散装食品（含冷藏冷冻食品）销售",
            "JY13501030051277",
        )?,
        yyzz(&ZHILIAN, "2025-03-14")?,
        yyzz(&RONGCHENG, "2024-08-07")?,
        spjy(
            &RONGCHENG,
            "2026-01-15",
            "单位食堂",
            "热食类食品制售",
            "JY33501110020394",
        )?,
    ])
}

/// What a bad fixture must be refused with.
#[derive(Clone, Copy)]
enum Expect {
    /// Not I-JSON: the parser's message contains this.
    Malformed(&'static str),
    /// The first failing check of the verdict.
    Reason(Reason),
}

type Edit = Box<dyn Fn(&mut J) -> anyhow::Result<()>>;

struct Bad {
    file: &'static str,
    expect: Expect,
    what: &'static str,
    spec: Spec,
    /// Applied to the document before signing (the signature covers the defect).
    before: Option<Edit>,
    /// Applied to the signed document.
    after: Option<Edit>,
}

fn bad(file: &'static str, expect: Expect, what: &'static str, spec: Spec) -> Bad {
    Bad {
        file,
        expect,
        what,
        spec,
        before: None,
        after: None,
    }
}

impl Bad {
    fn before(mut self, f: impl Fn(&mut J) -> anyhow::Result<()> + 'static) -> Self {
        self.before = Some(Box::new(f));
        self
    }
    fn after(mut self, f: impl Fn(&mut J) -> anyhow::Result<()> + 'static) -> Self {
        self.after = Some(Box::new(f));
        self
    }
}

/// `code` with its last (check) character replaced by the next one of `alphabet`.
fn wrong_check(code: &str, alphabet: &str) -> anyhow::Result<String> {
    let mut chars: Vec<char> = code.chars().collect();
    let last = chars.pop().ok_or_else(|| anyhow!("empty code"))?;
    let i = alphabet
        .find(last)
        .ok_or_else(|| anyhow!("{last} is not in the alphabet"))?;
    let next = alphabet[i + 1..]
        .chars()
        .next()
        .or_else(|| alphabet.chars().next())
        .ok_or_else(|| anyhow!("empty alphabet"))?;
    chars.push(next);
    Ok(chars.into_iter().collect())
}

fn bads() -> anyhow::Result<Vec<Bad>> {
    use Expect::{Malformed, Reason as R};
    let mut expired = spjy(
        &XINYUAN,
        "2024-01-10",
        "食品销售经营者",
        "预包装食品销售（临时）",
        "JY13501030049015",
    )?;
    expired.fields.retain(|(k, _)| *k != "有效期至");
    expired.fields.push(("有效期至", s("2024-12-31")));
    expired.valid_until = Some("2025-01-01T00:00:00Z".into());

    let mut not_yet = sbk(&ZHENG, "2026-10-15", "E35020117")?;
    not_yet.valid_from = "2099-01-01T00:00:00Z".into();
    not_yet.valid_until = None;

    let mut unknown_type = yyzz(&MINWEI, "2025-09-01")?;
    unknown_type.type_code = UNCATALOGUED;
    unknown_type.type_name = Some("网络餐饮服务备案凭证");
    unknown_type.fields = vec![("备案名称", s(MINWEI.name)), ("备案日期", s("2025-09-01"))];

    let mut key_not_active = spjy(
        &MINWEI,
        "2025-03-01",
        "餐饮服务经营者",
        "热食类食品制售",
        "JY23501020046107",
    )?;
    key_not_active.key = "scjgj-2019";
    key_not_active.created = "2025-03-01T01:30:00Z".into();

    let mut key_compromised =
        jsz(&ZHENG, "2024-11-20", "C1", "2016-04-11", "350100377105")?.until("2032-04-10");
    key_compromised.key = "gaj-2020";

    let mut issuer_mismatch = yyzz(&XINYUAN, "2025-04-02")?;
    issuer_mismatch.key = "gaj";

    let mut type_not_allowed = yyzz(&RONGCHENG, "2025-06-16")?;
    type_not_allowed.issuer = &MZJ;
    type_not_allowed.key = MZJ.key;

    let mut unknown_key = sfz(&LI, "2025-11-03")?;
    unknown_key.key = "rogue";

    Ok(vec![
        bad(
            "malformed_json--duplicate-key.json",
            Malformed("duplicate member name"),
            "`credentialSubject.holder.name` appears twice (林志强, then 林志坚): which name was signed?",
            sfz(&LIN, "2024-02-20")?,
        )
        .after(|d| {
            let holder = d.entries_mut(&["credentialSubject", "holder"])?;
            let i = holder.iter().position(|(k, _)| k == "name").ok_or_else(|| anyhow!("no holder name"))?;
            holder.insert(i + 1, ("name".into(), s("林志坚")));
            Ok(())
        }),
        bad(
            "malformed_json--lone-surrogate.json",
            Malformed("lone surrogate"),
            "the face field `住址` contains the lone surrogate `\\ud800`",
            sfz(&ZHENG, "2024-10-15")?,
        )
        .after(|d| {
            d.set(
                &["credentialSubject", "licence", "fields", "住址"],
                J::Raw(r#""福建省福州市晋安区福新中路89号\ud800东方名城5栋801室""#.into()),
            )
        }),
        bad(
            "malformed_json--big-integer.json",
            Malformed("integer beyond"),
            "the face field `注册资本万元` is 9007199254740993, beyond ±2^53",
            yyzz(&ZHILIAN, "2025-03-14")?,
        )
        .after(|d| d.set(&["credentialSubject", "licence", "fields", "注册资本万元"], J::Raw("9007199254740993".into()))),
        bad(
            "invalid_identifier.json",
            R(Reason::InvalidIdentifier),
            "the MOD 37,36 check character of `id` is wrong (validly signed)",
            sbk(&HUANG, "2025-02-17", "D35013390")?,
        )
        .before(|d| {
            let id = d.get_str(&["id"])?.to_owned();
            d.set(&["id"], s(wrong_check(&id, MOD37_ALPHABET)?))
        }),
        bad(
            "invalid_holder_code.json",
            R(Reason::InvalidHolderCode),
            "the check digit of the holder's citizen identity number is wrong (validly signed)",
            hkb(&WANG, "2025-05-27", WANG.name, "户主", "350105011862")?,
        )
        .before(|d| {
            let code = d.get_str(&["credentialSubject", "holder", "code"])?.to_owned();
            d.set(&["credentialSubject", "holder", "code"], s(wrong_check(&code, "0123456789X")?))
        }),
        bad(
            "invalid_agency_code.json",
            R(Reason::InvalidAgencyCode),
            "the check character of the USCC in `issuer.id` is wrong; the identifier's issuerCode is right (validly signed)",
            zyzg(&WU, "2025-06-20", "统计专业技术资格", "初级", "2025-05-30", "2025350100000842", "闽人社统证字第2025-0842号")?,
        )
        .before(|d| {
            let id = d.get_str(&["issuer", "id"])?.to_owned();
            d.set(&["issuer", "id"], s(wrong_check(&id, USCC_ALPHABET)?))
        }),
        bad(
            "unknown_type.json",
            R(Reason::UnknownType),
            "typeCode 11100000000013338W099 is well formed (valid USCC prefix) but not in the catalogue",
            unknown_type,
        ),
        bad("schema_violation.json", R(Reason::SchemaViolation), "the required face field `住址` of 居民身份证 is missing", sfz(&WU, "2025-08-12")?)
            .before(|d| d.remove(&["credentialSubject", "licence", "fields", "住址"])),
        bad(
            "bad_signature.json",
            R(Reason::BadSignature),
            "a valid 不动产权证书 whose face field `面积平方米` was changed from 112 to 212 after signing",
            bdc(
                &ZHANG,
                "2025-04-09",
                &Property {
                    number: "闽(2025)闽侯县不动产权第0012698号",
                    share: "单独所有",
                    location: "闽侯县上街镇学府南路56号榕发观湖3栋1002室",
                    unit: "350121104206GB00056F00031002",
                    area: 112,
                    term: "2017年09月01日起2087年08月31日止",
                    district: "350121",
                },
            )?,
        )
        .after(|d| d.set(&["credentialSubject", "licence", "fields", "面积平方米"], J::Int(212))),
        bad(
            "unknown_key.json",
            R(Reason::UnknownKey),
            "a 居民身份证 signed with `keys/rogue.key`, which no agency registered",
            unknown_key,
        ),
        bad(
            "key_not_active.json",
            R(Reason::KeyNotActive),
            "signed with `keys/scjgj-2019.key`, retired 2024-01-01, with `proof.created` 2025-03-01",
            key_not_active,
        ),
        bad(
            "key_compromised.json",
            R(Reason::KeyCompromised),
            "signed with `keys/gaj-2020.key`, compromised 2025-06-01; `proof.created` claims 2024-11-20, but no deposit proves it predates the compromise",
            key_compromised,
        ),
        bad(
            "issuer_mismatch.json",
            R(Reason::IssuerMismatch),
            "a 营业执照 whose issuer and identifier name 福州市市场监督管理局, signed with the police key `keys/gaj.key`",
            issuer_mismatch,
        ),
        bad(
            "type_not_allowed.json",
            R(Reason::TypeNotAllowed),
            "a 营业执照 issued and signed (`keys/mzj.key`) by 福州市民政局 11350100003591136H, which may not issue that type",
            type_not_allowed,
        ),
        bad("expired.json", R(Reason::Expired), "a 食品经营许可证 whose `validUntil` is 2025-01-01T00:00:00Z", expired),
        bad("not_yet_valid.json", R(Reason::NotYetValid), "a 社会保障卡 whose `validFrom` is 2099-01-01T00:00:00Z", not_yet),
    ])
}

// ----- building and signing ----------------------------------------------------------------------

struct Ctx {
    registries: Registries,
    signers: BTreeMap<String, Signer>,
    keys_dir: PathBuf,
}

impl Ctx {
    fn load(root: &Path) -> anyhow::Result<Self> {
        let fixtures = root.join("fixtures");
        let registries = Registries::new(
            demo::catalogue(&fixtures)?,
            demo::matters(&fixtures)?,
            demo::agencies(&fixtures)?,
            Vec::new(),
        );
        Ok(Self {
            registries,
            signers: BTreeMap::new(),
            keys_dir: root.join("keys"),
        })
    }

    fn signer(&mut self, name: &str) -> anyhow::Result<&Signer> {
        if !self.signers.contains_key(name) {
            let path = self.keys_dir.join(format!("{name}.key"));
            let text = zeroize::Zeroizing::new(
                std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?,
            );
            let signer = Signer::from_private_multibase(&text)
                .with_context(|| format!("{} is not a privateKeyMultibase", path.display()))?;
            self.signers.insert(name.to_owned(), signer);
        }
        self.signers
            .get(name)
            .ok_or_else(|| anyhow!("key {name} not loaded"))
    }
}

/// The unsigned document of a spec, in the member order of SPEC §3.
fn document(
    spec: &Spec,
    id: &LicenceId,
    predecessor: Option<&LicenceId>,
    ctx: &Ctx,
) -> anyhow::Result<J> {
    let uscc: Uscc = spec
        .issuer
        .uscc
        .parse()
        .map_err(|e| anyhow!("{}: {e}", spec.issuer.uscc))?;
    let agency = ctx
        .registries
        .agencies
        .get(&uscc)
        .ok_or_else(|| anyhow!("agency {uscc} is not in agencies.json"))?;
    let type_code: TypeCode = spec
        .type_code
        .parse()
        .map_err(|e| anyhow!("{}: {e}", spec.type_code))?;
    let catalogued = ctx.registries.types.get(&type_code);
    let type_name = match (catalogued, spec.type_name) {
        (Some(t), None) => t.name.clone(),
        (None, Some(name)) => name.to_owned(),
        (Some(_), Some(_)) => bail!(
            "{}: a catalogued type takes the catalogue's name",
            spec.stem
        ),
        (None, None) => bail!("{}: type {type_code} is not catalogued", spec.stem),
    };
    // Face fields in the catalogue's order.
    let mut fields = spec.fields.clone();
    if let Some(t) = catalogued {
        fields.sort_by_key(|(name, _)| {
            t.fields
                .iter()
                .position(|f| f.name == *name)
                .unwrap_or(usize::MAX)
        });
    }

    let mut top = vec![
        ("@context".to_owned(), J::Arr(vec![s(VC_CONTEXT)])),
        ("id".to_owned(), s(id.urn())),
        (
            "type".to_owned(),
            J::Arr(vec![s("VerifiableCredential"), s(LICENCE_TYPE)]),
        ),
        (
            "issuer".to_owned(),
            obj([
                ("id", s(format!("{USCC_URN_PREFIX}{uscc}"))),
                ("name", s(agency.name.clone())),
            ]),
        ),
        ("validFrom".to_owned(), s(spec.valid_from.clone())),
    ];
    if let Some(until) = &spec.valid_until {
        top.push(("validUntil".to_owned(), s(until.clone())));
    }
    let mut licence = vec![
        ("typeCode".to_owned(), s(spec.type_code)),
        ("typeName".to_owned(), s(type_name)),
        ("number".to_owned(), s(spec.number.clone())),
        ("issueDate".to_owned(), s(spec.issue_date.clone())),
        ("jurisdiction".to_owned(), s(spec.jurisdiction)),
        ("version".to_owned(), s(format!("{:03}", id.version()))),
    ];
    if let Some(p) = predecessor {
        licence.push(("predecessor".to_owned(), s(p.urn())));
    }
    licence.push((
        "fields".to_owned(),
        J::Obj(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()),
    ));
    let holder = obj([
        ("name", s(spec.holder.name.clone())),
        ("codeType", s(spec.holder.code_type)),
        ("code", s(spec.holder.code.clone())),
    ]);
    top.push((
        "credentialSubject".to_owned(),
        obj([("holder", holder), ("licence", J::Obj(licence))]),
    ));
    Ok(J::Obj(top))
}

/// Signs `doc` and returns it with its proof appended, in the member order of SPEC §3.
fn sign(doc: &J, signer: &Signer, created: &str) -> anyhow::Result<J> {
    let created =
        proof::parse_time(created).ok_or_else(|| anyhow!("{created} is not an RFC 3339 time"))?;
    let signed = proof::sign(doc.to_value()?, signer, created)?;
    let proof = signed
        .get("proof")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("signing added no proof"))?;
    ensure!(
        proof.len() == PROOF_ORDER.len(),
        "unexpected proof members {:?}",
        proof.keys().collect::<Vec<_>>()
    );
    let members = PROOF_ORDER
        .iter()
        .map(|k| {
            Ok((
                (*k).to_owned(),
                J::from_value(proof.get(*k).ok_or_else(|| anyhow!("proof has no {k}"))?)?,
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let J::Obj(mut top) = doc.clone() else {
        bail!("a document is an object")
    };
    top.push(("proof".to_owned(), J::Obj(members)));
    let out = J::Obj(top);
    ensure!(
        out.to_value()? == signed,
        "the ordered document differs from the signed one"
    );
    Ok(out)
}

/// A serial for a licence: its issue date and a sequence number.
fn serial(spec: &Spec, n: usize) -> String {
    format!("{}{n:04}", spec.issue_date.replace('-', ""))
}

fn licence_id(spec: &Spec, serial: &str, version: u16) -> anyhow::Result<LicenceId> {
    let type_code: TypeCode = spec
        .type_code
        .parse()
        .map_err(|e| anyhow!("{}: {e}", spec.type_code))?;
    let issuer: Uscc = spec
        .issuer
        .uscc
        .parse()
        .map_err(|e| anyhow!("{}: {e}", spec.issuer.uscc))?;
    LicenceId::new(&type_code, &issuer, serial, version).map_err(|e| anyhow!("{}: {e}", spec.stem))
}

fn check_time() -> anyhow::Result<DateTime<Utc>> {
    proof::parse_time(CHECK_TIME).ok_or_else(|| anyhow!("bad CHECK_TIME"))
}

/// The first failing reason when a document is presented to `POST /v1/verify`, and when deposited.
fn reasons(doc: &Value, reg: &Registries) -> anyhow::Result<[Option<Reason>; 2]> {
    let now = check_time()?;
    let presented = verify::licence(doc, Evidence::new(Some(reg), now)).0;
    let facts = RecordFacts {
        deposited_at: now,
        integrity: Ok(()),
        status: None,
        superseded_by: None,
    };
    let deposited = verify::licence(
        doc,
        Evidence {
            registries: Some(reg),
            record: Some(&facts),
            now,
            signature: None,
        },
    )
    .0;
    Ok([presented.reason(), deposited.reason()])
}

/// Every file the generator produces, by path relative to the crate root.
fn generate(root: &Path) -> anyhow::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut ctx = Ctx::load(root)?;
    let mut out = BTreeMap::new();

    // Samples.
    let mut ids: BTreeMap<String, (String, LicenceId)> = BTreeMap::new();
    let mut held: BTreeMap<String, BTreeSet<TypeCode>> = BTreeMap::new();
    let mut per_type: BTreeMap<TypeCode, usize> = BTreeMap::new();
    for (i, spec) in samples()?.into_iter().enumerate() {
        let (serial, version, predecessor) = match spec.renews {
            None => (serial(&spec, i + 1), 1, None),
            Some(stem) => {
                let (serial, pred) = ids
                    .get(stem)
                    .ok_or_else(|| anyhow!("{} renews {stem}, which comes later", spec.stem))?;
                (serial.clone(), pred.version() + 1, Some(pred.clone()))
            }
        };
        let id = licence_id(&spec, &serial, version)?;
        if let Some(p) = &predecessor {
            ensure!(
                p.type_code() == id.type_code() && p.issuer() == id.issuer(),
                "{}: a renewal keeps type and issuer",
                spec.stem
            );
        }
        let doc = document(&spec, &id, predecessor.as_ref(), &ctx)?;
        let signed = sign(&doc, ctx.signer(spec.key)?, &spec.created)?;
        let text = signed.render();
        let value = jcs::parse(text.as_bytes())
            .with_context(|| format!("{}: output is not I-JSON", spec.stem))?;
        ensure!(
            value == signed.to_value()?,
            "{}: the written text does not parse to the signed document",
            spec.stem
        );
        let got = reasons(&value, &ctx.registries)?;
        ensure!(
            got == [None, None],
            "{}: sample is not valid: {got:?}",
            spec.stem
        );

        let name = format!("{:02}-{}.json", i + 1, spec.stem);
        ensure!(
            ids.insert(spec.stem.clone(), (serial, id.clone()))
                .is_none(),
            "two samples named {}",
            spec.stem
        );
        held.entry(format!("{}:{}", spec.holder.code_type, spec.holder.name))
            .or_default()
            .insert(id.type_code());
        *per_type.entry(id.type_code()).or_default() += 1;
        out.insert(Path::new("fixtures/licences").join(name), text.into_bytes());
    }
    let reg = &ctx.registries;
    for t in reg.types.keys() {
        ensure!(per_type.contains_key(t), "no sample of type {t}");
    }
    for (holder, types) in &held {
        let usable = reg
            .matters
            .values()
            .any(|m| m.types.iter().all(|t| types.contains(t)));
        ensure!(usable, "{holder} holds the types of no matter");
    }

    // Bad fixtures.
    let mut readme = String::from(
        "# Bad fixtures\n\n\
         Generated by `cargo run --example make_fixtures` (see the doc comment of\n\
         `examples/make_fixtures.rs`); do not edit by hand.\n\n\
         Each file is refused on deposit and by `POST /v1/verify` (and `licence-vault verify`) with the\n\
         reason below as the first failing check of its verdict, checked in the order integrity,\n\
         identifier, schema, signature, issuer_key, issuer, status, validity. The `malformed_json--*`\n\
         files are not I-JSON, so they are refused before any check (`400 malformed_json`; the CLI exits\n\
         2). Every other file is a well-formed, validly structured licence except for its one defect.\n\n\
         | file | expected reason | what is wrong |\n\
         | --- | --- | --- |\n",
    );
    for (k, b) in bads()?.into_iter().enumerate() {
        let spec = &b.spec;
        let id = licence_id(spec, &serial(spec, 9001 + k), 1)?;
        let mut doc = document(spec, &id, None, &ctx)?;
        if let Some(edit) = &b.before {
            edit(&mut doc)?;
        }
        let mut signed = sign(&doc, ctx.signer(spec.key)?, &spec.created)?;
        if let Some(edit) = &b.after {
            edit(&mut signed)?;
        }
        let text = signed.render();
        let code = match b.expect {
            Expect::Malformed(message) => {
                match jcs::parse(text.as_bytes()) {
                    Ok(_) => bail!("{}: parses, but must not", b.file),
                    Err(e) => ensure!(
                        e.to_string().contains(message),
                        "{}: refused for {e}, expected {message}",
                        b.file
                    ),
                }
                "malformed_json"
            }
            Expect::Reason(reason) => {
                let value = jcs::parse(text.as_bytes())
                    .with_context(|| format!("{}: output is not I-JSON", b.file))?;
                let got = reasons(&value, &ctx.registries)?;
                ensure!(
                    got == [Some(reason); 2],
                    "{}: first failures {got:?}, expected {reason}",
                    b.file
                );
                reason.as_str()
            }
        };
        ensure!(
            b.file == format!("{code}.json") || b.file.starts_with(&format!("{code}--")),
            "{}: name the file after its reason",
            b.file
        );
        readme.push_str(&format!("| `{}` | `{code}` | {} |\n", b.file, b.what));
        out.insert(Path::new("fixtures/bad").join(b.file), text.into_bytes());
    }
    out.insert(PathBuf::from("fixtures/bad/README.md"), readme.into_bytes());
    Ok(out)
}

// ----- writing and checking ----------------------------------------------------------------------

/// Files in the generator's directories that it does not produce.
fn extra_files(root: &Path, files: &BTreeMap<PathBuf, Vec<u8>>) -> anyhow::Result<Vec<PathBuf>> {
    let mut extra = Vec::new();
    for dir in ["fixtures/licences", "fixtures/bad"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries {
            let rel =
                Path::new(dir).join(entry.with_context(|| format!("listing {dir}"))?.file_name());
            if !files.contains_key(&rel) {
                extra.push(rel);
            }
        }
    }
    extra.sort();
    Ok(extra)
}

pub fn run(check: bool) -> anyhow::Result<bool> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = generate(root)?;
    // (what is wrong on disk, what a regeneration does about it, the file)
    let mut stale: Vec<(&str, &str, PathBuf)> = Vec::new();
    for (rel, bytes) in &files {
        let path = root.join(rel);
        match std::fs::read(&path) {
            Ok(on_disk) if &on_disk == bytes => continue,
            Ok(_) => stale.push(("differs", "rewrote", rel.clone())),
            Err(_) => stale.push(("missing", "wrote", rel.clone())),
        }
        if !check {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    for rel in extra_files(root, &files)? {
        if !check {
            let path = root.join(&rel);
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
        stale.push(("not generated", "removed", rel));
    }
    for (problem, action, rel) in &stale {
        eprintln!(
            "{}: {}",
            if check { problem } else { action },
            rel.display()
        );
    }
    match (check, stale.len()) {
        (true, 0) => eprintln!(
            "make_fixtures --check: all {} files are up to date",
            files.len()
        ),
        (true, n) => eprintln!(
            "make_fixtures --check: {n} fixture files are not what the generator makes; \
             run `cargo run --example make_fixtures`"
        ),
        (false, n) => eprintln!(
            "make_fixtures: {} files generated, {n} changed on disk",
            files.len()
        ),
    }
    Ok(!check || stale.is_empty())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = match args.as_slice() {
        [] => false,
        [a] if a == "--check" => true,
        _ => {
            eprintln!("usage: cargo run --example make_fixtures [-- --check]");
            return ExitCode::from(2);
        }
    };
    match run(check) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("make_fixtures: {e:#}");
            ExitCode::from(2)
        }
    }
}
