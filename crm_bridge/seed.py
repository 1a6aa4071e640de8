"""``hotline db seed --demo``: a realistic demo data set.

A few hundred customers with Chinese names, mobile and landline numbers in
the cities the outlets serve, their appliances (some out of warranty), a
service outlet per city, agents, and tickets in every status. Deterministic
for a given seed, so demos and screenshots are repeatable.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from crm_bridge.models import (
    Agent,
    AgentSkill,
    Appliance,
    ApplianceCategory,
    Customer,
    CustomerPhone,
    ServiceOutlet,
    Ticket,
    TicketEvent,
    TicketKind,
    TicketStatus,
)

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁"
            "谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈")
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
         "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "晶", "建华", "志强", "海燕", "玉兰",
         "文", "斌", "宇", "鹏", "欣怡", "子涵", "浩然", "梓萱", "俊杰", "雨桐", "佳怡", "晨"]
CITIES = [  # (region, area code, districts)
    ("北京", "010", ["朝阳区", "海淀区", "丰台区", "西城区"]),
    ("上海", "021", ["浦东新区", "徐汇区", "闵行区", "静安区"]),
    ("广东 广州", "020", ["天河区", "越秀区", "番禺区", "白云区"]),
    ("广东 深圳", "0755", ["南山区", "福田区", "宝安区", "龙岗区"]),
    ("浙江 杭州", "0571", ["西湖区", "滨江区", "余杭区", "拱墅区"]),
    ("江苏 南京", "025", ["鼓楼区", "玄武区", "江宁区", "建邺区"]),
    ("湖北 武汉", "027", ["武昌区", "江汉区", "洪山区", "汉阳区"]),
    ("四川 成都", "028", ["锦江区", "武侯区", "高新区", "青羊区"]),
    ("山东 青岛", "0532", ["市南区", "崂山区", "黄岛区", "李沧区"]),
]
STREETS = ["人民路", "解放路", "建设路", "中山路", "和平路", "文化路", "长江路", "新华路", "友谊路"]
MOBILE_PREFIXES = ["130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152",
                   "158", "159", "166", "176", "177", "180", "182", "186", "187", "188", "189"]
MODELS = {
    ApplianceCategory.AIR_CONDITIONER: ["KFR-35GW/BP3", "KFR-26GW/N1", "KFR-72LW/BP2"],
    ApplianceCategory.REFRIGERATOR: ["BCD-480WDPG", "BCD-325WDGX", "BCD-218STPH"],
    ApplianceCategory.WASHING_MACHINE: ["XQG100-BD14126", "XQB80-Z3088", "XQG90-HB1286"],
    ApplianceCategory.TV: ["55U7H", "65E3F", "75A6K"],
    ApplianceCategory.WATER_HEATER: ["EC6002-MC3", "JSQ25-13WS5", "ES60H-GM5"],
    ApplianceCategory.KITCHEN_HOOD: ["CXW-200-E900", "CXW-260-JQ01"],
}
# what goes wrong with each kind of appliance, and what is installed: a
# ticket's summary fits the appliance it is about
C = ApplianceCategory
FAULTS = {
    C.AIR_CONDITIONER: ["空调不制冷", "空调外机漏水", "空调制热效果差", "空调显示E1故障码"],
    C.REFRIGERATOR: ["冰箱冷藏室结霜", "冰箱不制冷", "冰箱压缩机噪音大", "冰箱门封条漏气"],
    C.WASHING_MACHINE: ["洗衣机脱水异响", "洗衣机门锁打不开", "洗衣机不进水", "洗衣机漏水"],
    C.TV: ["电视无信号", "电视黑屏有声音", "电视遥控失灵", "电视画面有竖线"],
    C.WATER_HEATER: ["热水器不加热", "热水器漏水", "热水器显示E3故障码", "热水器水温忽高忽低"],
    C.KITCHEN_HOOD: ["油烟机吸力变小", "油烟机噪音大", "油烟机漏油", "油烟机按键失灵"],
}
INSTALLS = {
    C.AIR_CONDITIONER: ["新购空调上门安装", "空调移机"], C.REFRIGERATOR: ["冰箱送货安装"],
    C.WASHING_MACHINE: ["洗衣机安装与进水管更换"], C.TV: ["电视挂架安装", "电视调试"],
    C.WATER_HEATER: ["热水器安装"], C.KITCHEN_HOOD: ["油烟机安装"],
}
NAMES = {C.AIR_CONDITIONER: "空调", C.REFRIGERATOR: "冰箱", C.WASHING_MACHINE: "洗衣机",
         C.TV: "电视", C.WATER_HEATER: "热水器", C.KITCHEN_HOOD: "油烟机"}
SUMMARIES = {
    TicketKind.REPAIR: FAULTS,
    TicketKind.INSTALLATION: INSTALLS,
    TicketKind.CONSULTATION: {c: [f"{n}保修政策咨询", f"{n}节能模式设置", f"{n}配件购买咨询"]
                              for c, n in NAMES.items()},
    TicketKind.COMPLAINT: {c: [f"{n}维修师傅迟到", f"{n}多次维修未解决", f"{n}收费标准不清"]
                           for c, n in NAMES.items()},
    TicketKind.FOLLOW_UP: {c: [f"{n}维修完成回访", f"{n}安装完成回访"] for c, n in NAMES.items()},
}
AGENTS = [("8001", "林晓"), ("8002", "赵敏"), ("8003", "陈静"), ("8004", "王磊"), ("8005", "周洁"),
          ("8006", "孙鹏")]
# their skills, 1 (novice) to 5 (expert): the names are acd/queues.yaml's
AGENT_SKILLS = {
    "8001": {"air_conditioner": 5, "mandarin": 5, "vip": 4},
    "8002": {"refrigerator": 4, "washing_machine": 3, "mandarin": 5},
    "8003": {"tv": 5, "water_heater": 3, "mandarin": 4},
    "8004": {"english": 5, "mandarin": 3, "air_conditioner": 2},
    "8005": {"complaints": 5, "mandarin": 5, "refrigerator": 2, "vip": 5},
    "8006": {"washing_machine": 4, "water_heater": 4, "tv": 2, "mandarin": 4},
}


@dataclass
class SeedResult:
    customers: int
    phones: int
    appliances: int
    outlets: int
    tickets: int
    agents: int


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def _mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _landline(rng: random.Random, area: str) -> str:
    return area + str(rng.randint(2, 8)) + f"{rng.randrange(10**7):07d}"


class Bar:
    """A progress bar on a terminal; a few plain lines otherwise."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.n = total, label, 0
        self.tty = sys.stderr.isatty()
        self._last_pct = -1

    def step(self, k: int = 1) -> None:
        self.n += k
        pct = self.n * 100 // max(self.total, 1)
        if self.tty:
            filled = pct * 30 // 100
            sys.stderr.write(f"\r{self.label:<12} [{'#' * filled}{'.' * (30 - filled)}] "
                             f"{self.n}/{self.total}")
            if self.n >= self.total:
                sys.stderr.write("\n")
        elif pct // 25 != self._last_pct // 25 or self.n >= self.total:
            sys.stderr.write(f"{self.label}: {self.n}/{self.total}\n")
        self._last_pct = pct
        sys.stderr.flush()


# the way a ticket of each kind usually goes; a seeded ticket stops somewhere
# along it, or is cancelled there (each step is a move the status flow allows)
FIELD_WORK = [TicketStatus.NEW, TicketStatus.DISPATCHED, TicketStatus.SCHEDULED,
              TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED, TicketStatus.CLOSED]
DESK_WORK = [TicketStatus.NEW, TicketStatus.RESOLVED, TicketStatus.CLOSED]
SITE_ZONE = ZoneInfo("Asia/Shanghai")


def _ticket(rng: random.Random, c: Customer, now: dt.datetime, outlet_ids: list[int]) -> Ticket:
    kind = rng.choices(list(SUMMARIES), [0.45, 0.2, 0.2, 0.1, 0.05])[0]
    way = FIELD_WORK if kind in (TicketKind.REPAIR, TicketKind.INSTALLATION) else DESK_WORK
    path = way[:rng.randint(1, len(way))]
    if path[-1] is not TicketStatus.CLOSED and rng.random() < 0.12:
        path.append(TicketStatus.CANCELLED)
    created = now - dt.timedelta(days=rng.randint(1, 90), hours=rng.randint(0, 23))
    agent = rng.choice(AGENTS)[0]
    appliance = rng.choice(c.appliances)  # the ticket is about one of theirs, and fits it
    summary = rng.choice(SUMMARIES[kind][ApplianceCategory(appliance.category)])
    t = Ticket(kind=kind.value, status=path[-1].value, customer_id=c.id,
               appliance_id=appliance.id, summary=summary, created_by=agent, created_at=created)
    t.history.append(TicketEvent(at=created, actor=agent, action="created",
                                 to_status=TicketStatus.NEW.value))
    at = created
    for before, after in itertools.pairwise(path):
        at += dt.timedelta(hours=rng.randint(1, 30))
        if after is TicketStatus.DISPATCHED:
            t.outlet_id = rng.choice(outlet_ids)
            t.history.append(TicketEvent(at=at, actor=agent, action="outlet",
                                         detail=f"None → {t.outlet_id}"))
        if after is TicketStatus.SCHEDULED:
            local = (at + dt.timedelta(days=rng.randint(1, 3))).astimezone(SITE_ZONE)
            start = local.replace(hour=rng.choice([9, 13, 15]), minute=0, second=0,
                                  microsecond=0)
            t.appointment_start, t.appointment_end = start, start + dt.timedelta(hours=2)
            t.history.append(TicketEvent(at=at, actor="outlet", action="appointment",
                                         detail=f"{start:%Y-%m-%d %H:%M}–"
                                                f"{t.appointment_end:%H:%M}"))
        actor = "outlet" if after in (TicketStatus.IN_PROGRESS, TicketStatus.RESOLVED) \
            and way is FIELD_WORK else agent
        t.history.append(TicketEvent(at=at, actor=actor, action="status",
                                     from_status=before.value, to_status=after.value))
        if after in (TicketStatus.CLOSED, TicketStatus.CANCELLED):
            t.closed_at = at
    t.updated_at = at
    return t


async def seed_demo(engine: AsyncEngine, customers: int = 300, seed: int = 2026,
                    today: dt.date | None = None,
                    progress: Callable[[int, str], Bar] = Bar) -> SeedResult:
    rng = random.Random(seed)
    today = today or dt.date.today()
    now = dt.datetime.now(dt.UTC)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as s:
        if (await s.execute(select(func.count()).select_from(Customer))).scalar_one():
            raise ValueError("the database already holds customers; seed an empty database")
        outlets = []
        for region, area, districts in CITIES:
            for district in districts[:2]:
                outlets.append(ServiceOutlet(
                    name=f"{region.split()[-1]}{district}家电服务中心", region=region,
                    address=f"{region} {district}{rng.choice(STREETS)}{rng.randint(1, 300)}号",
                    contact_name=_name(rng), contact_phone=_landline(rng, area)))
        s.add_all(outlets)
        s.add_all(Agent(code=c, name=n, skills=[
            AgentSkill(skill=k, level=v) for k, v in sorted(AGENT_SKILLS[c].items())])
            for c, n in AGENTS)
        await s.flush()

        bar = progress(customers, "customers")
        n_phones = n_appl = n_tickets = 0
        serial = 100000
        for i in range(customers):
            region, area, districts = rng.choice(CITIES)
            c = Customer(
                name=_name(rng), vip=rng.random() < 0.08, region=region,
                address=f"{region} {rng.choice(districts)}{rng.choice(STREETS)}"
                        f"{rng.randint(1, 500)}号{rng.randint(1, 30)}栋{rng.randint(101, 2802)}室")
            # the first customer is the one the demo's and the tests' 张三 calls as
            numbers = ["13800138000"] if i == 0 else [_mobile(rng)]
            if i == 0:
                c.name = "张三"
            if rng.random() < 0.3:
                numbers.append(_landline(rng, area))
            for j, num in enumerate(numbers):
                c.phones.append(CustomerPhone(number=num,
                                              label="mobile" if j == 0 else "home"))
                n_phones += 1
            for _ in range(rng.choices([1, 2, 3], [0.55, 0.3, 0.15])[0]):
                cat = rng.choice(list(MODELS))
                bought = today - dt.timedelta(days=rng.randint(20, 6 * 365))
                years = 6 if cat is ApplianceCategory.AIR_CONDITIONER else 3
                serial += rng.randint(1, 97)
                c.appliances.append(Appliance(
                    category=cat.value, model=rng.choice(MODELS[cat]),
                    serial=f"{cat.value[:2].upper()}{bought:%Y%m}{serial}",
                    purchase_date=bought,
                    warranty_end=bought.replace(year=bought.year + years)
                    if not (bought.month == 2 and bought.day == 29)
                    else bought + dt.timedelta(days=365 * years)))
                n_appl += 1
            s.add(c)
            await s.flush()
            for _ in range(rng.choices([0, 1, 2], [0.45, 0.4, 0.15])[0]):
                s.add(_ticket(rng, c, now, [o.id for o in outlets if o.region == c.region]
                              or [outlets[0].id]))
                n_tickets += 1
            bar.step()
        await s.commit()
    return SeedResult(customers, n_phones, n_appl, len(outlets), n_tickets, len(AGENTS))


async def mobile_customers(engine: AsyncEngine, limit: int) -> list[tuple[str, str]]:
    """The first customers with a mobile number, as (name, number): the demo's
    callers who are known to the service database."""
    async with engine.connect() as conn:
        return [(r.name, r.number) for r in (await conn.execute(
            select(Customer.name, CustomerPhone.number)
            .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
            .where(CustomerPhone.label == "mobile")
            .order_by(Customer.id).limit(limit))).all()]
