"""A built-in bilingual glossary of everyday business words.

It lets Chinese questions reach English-named schemas with no semantic layer
(``客户`` -> ``customer``) and gives English synonyms for common name parts.
Nothing here names a particular database: entries are words that occur in
table and column names everywhere.
"""

from __future__ import annotations

# word people use -> name part found in identifiers
CHINESE: dict[str, list[str]] = {
    "客户": ["customer"], "顾客": ["customer"], "用户": ["customer", "user"], "买家": ["customer"],
    "会员": ["customer", "member"], "国家": ["country"], "城市": ["city"], "省份": ["province", "state"],
    "省": ["province", "state"], "州": ["state"], "地址": ["address"], "邮编": ["postal", "code"],
    "订单": ["order"], "价格": ["price"], "单价": ["unit", "price"], "售价": ["price"],
    "总额": ["total"], "总金额": ["total", "amount"], "金额": ["amount", "total"], "员工": ["employee"],
    "雇员": ["employee"], "职员": ["employee"], "发票": ["invoice"], "账单": ["invoice"],
    "歌曲": ["track"], "曲目": ["track"], "音轨": ["track"], "专辑": ["album"], "艺术家": ["artist"],
    "歌手": ["artist"], "艺人": ["artist"], "流派": ["genre"], "曲风": ["genre"],
    "媒体类型": ["media", "type"], "播放列表": ["playlist"], "歌单": ["playlist"],
    "产品": ["product"], "商品": ["product"], "类别": ["category"], "品类": ["category"],
    "类目": ["category"], "分类": ["category"], "品牌": ["brand"], "评论": ["review"],
    "评价": ["review"], "评分": ["rating"], "星级": ["rating"], "工单": ["ticket"], "渠道": ["channel"],
    "状态": ["status"], "日期": ["date"], "名字": ["name"], "名称": ["name"], "姓名": ["name"],
    "邮箱": ["email"], "电子邮件": ["email"], "电话": ["phone"], "手机": ["phone"], "件数": ["quantity"],
    "折扣": ["discount"], "年龄": ["age"], "性别": ["gender"], "公司": ["company"], "职位": ["title"],
    "头衔": ["title"], "时长": ["milliseconds", "duration"], "作曲家": ["composer"],
    "作曲": ["composer"], "大小": ["bytes", "size"], "字节": ["bytes"], "部门": ["department"],
    "团队": ["team"], "坐席": ["agent"], "客服": ["agent"], "成本": ["cost"], "库存": ["stock"],
    "满意度": ["satisfaction"], "类型": ["type", "category"], "等级": ["level"], "级别": ["level"],
    "学生": ["student"], "老师": ["teacher"], "教师": ["teacher"], "课程": ["course"],
    "歌": ["track", "song"], "宠物": ["pet"], "航班": ["flight"], "机场": ["airport"],
    "航空公司": ["airline"], "汽车": ["car"], "车": ["car"], "制造商": ["maker"],
    "体育场": ["stadium"], "演唱会": ["concert"], "歌手们": ["singer"], "语言": ["language"],
    "人口": ["population"], "面积": ["area"], "首都": ["capital"], "大洲": ["continent"],
    "经理": ["manager"], "薪水": ["salary"], "工资": ["salary"], "收入": ["income", "revenue"],
    "年份": ["year"], "开始": ["start"], "结束": ["end"], "描述": ["description"],
    "标题": ["title"], "传真": ["fax"], "雇佣": ["hire"], "入职": ["hire"], "生日": ["birth"],
    "出生": ["birth"], "支持": ["support"], "代表": ["rep"], "明细": ["line", "item"],
    "关闭": ["closed"], "关闭的": ["closed"], "解决": ["resolved"], "发货": ["shipped"],
    "签收": ["delivered"], "送达": ["delivered"], "注册": ["signup"], "上架": ["launch"],
    "上市": ["launch"], "创建": ["created"], "下单": ["order"], "打开": ["opened"],
    "打分": ["score", "rating", "satisfaction"], "组": ["team", "group"],
}

# English words people use -> name parts
ENGLISH: dict[str, list[str]] = {
    "client": ["customer"], "buyer": ["customer"], "shopper": ["customer"],
    "staff": ["employee"], "worker": ["employee"], "song": ["track"], "tune": ["track"],
    "singer": ["artist"], "band": ["artist"], "musician": ["artist"], "record": ["album"],
    "style": ["genre"], "bill": ["invoice"], "sale": ["invoice", "order"], "purchase": ["order"],
    "item": ["product", "item", "line"], "good": ["product"], "cost": ["cost", "price"],
    "price": ["price", "unit price"], "length": ["milliseconds", "duration"],
    "duration": ["milliseconds", "duration"], "size": ["bytes", "size"], "mail": ["email"],
    "e-mail": ["email"], "telephone": ["phone"], "mobile": ["phone"], "nation": ["country"],
    "town": ["city"], "amount": ["amount", "total"], "spend": ["total", "amount"],
    "spent": ["total", "amount"], "score": ["rating", "score"], "star": ["rating"],
    "representative": ["rep"], "agent": ["agent", "rep"], "qty": ["quantity"],
    "line": ["item", "line"], "lines": ["item", "line"],
}

# Opposites for NULL-ness questions: "still open" means "not closed".
ANTONYMS: dict[str, tuple[str, ...]] = {
    "open": ("closed", "resolved", "completed", "finished", "ended"),
    "unresolved": ("resolved", "closed", "completed"), "pending": ("closed", "completed", "resolved"),
    "unclosed": ("closed", "resolved"), "unshipped": ("shipped",), "undelivered": ("delivered",),
    "unfinished": ("finished", "completed", "closed"),
}
# Words for a finished state: "not resolved" means the state column is still empty.
STATE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "resolved": ("resolved", "closed", "completed"), "closed": ("closed", "resolved", "completed"),
    "finished": ("finished", "completed", "closed"), "completed": ("completed", "closed", "finished"),
}


# Function words that carry no schema meaning; a question may contain them freely.
EN_STOP = set("""
a an the of in on at to for from with by and or is are was were be been being do does did have has
had what which who whom whose how many much me us we i you they it its their there this that these
those please show list give tell find get display all each every per as than more less most least
any some can could would should will shall may might our my your up out about into over under
across among between during within without only just also still then so such very too
number count total amount made make placed come came belong belonging belongs exist exists existing
currently ever overall value values record records row rows entry entries data one
whose where when broken down based having got get gets there're what's which's
carry carries carried write wrote written writes place places placing live lives living
make makes made making bring brings brought handle handled handles handling contact
contacted receive received come came go went do doing done give gave take took currently
ever altogether actually yuan rmb dollar dollars usd cny people person ones kind kinds
catalogue catalog exist exists existing registered register store ours
linked link associated attached related tied far through via using sell signed sign joined join
new newly so any issued issue listed anyone anybody generate generated generates recorded
break breakdown problem problems spread own owns owned but either use uses used using offer offers offered serve serves served
happen happened happens occur occurred occurs
""".split())
CN_STOP_WORDS = set("""
全部 所有 分别 一下 多少 什么 哪些 哪个 是否 以及 一共 总共 里面 当中 之中 对应 情况 现在 目前 当前 这些 那些
个别 并且 而且 平均值 合并 排名 统计 知道 想要 写过 收到 处理 负责 分布 共计 关联 已经 进来 问题 涉及 信息
咱们 东西 针对 某个 具体 居住 请问 帮我 给我 查询 查看 列出 显示 我们 你们 他们 一些 各自 总计 其中 还有
""".split())
# Single characters that are function words wherever they stand.
CN_STOP = set(
    "的了吗呢吧啊呀是有在和与及或都中里内上下个位名种条笔家件款首张次每各按把被请帮我们你查询看给出列"
    "几哪谁所其为于对从到由共总计数量也还就要想人新占单已增开填自钱累咱店找住最大高低少多分一"
) | CN_STOP_WORDS

# Words the drafter reads as instructions (aggregates, comparisons, dates).
CUE_WORDS = set("""
average mean total sum count number maximum minimum highest lowest largest smallest biggest most least
fewest percentage percent proportion share ratio distinct different unique between before after since
during quarter month year monthly yearly quarterly weekly daily expensive cheapest cheap newest latest
oldest earliest longest shortest list show display which what many much more less than over under
above below least greater fewer higher lower exceeding still open never without within each every
""".split())

# Place names as people write them in Chinese -> the spellings a database may store.
# Applied only to values the database really holds (profile values), so "德国" finds
# "Germany" in any schema without a semantic layer.
PLACES: dict[str, tuple[str, ...]] = {
    "美国": ("USA", "United States", "US", "United States of America"), "中国": ("China", "CN"),
    "加拿大": ("Canada",), "巴西": ("Brazil",), "德国": ("Germany",), "法国": ("France",),
    "英国": ("United Kingdom", "UK", "England", "Great Britain"), "日本": ("Japan",),
    "韩国": ("South Korea", "Korea"), "印度": ("India",), "意大利": ("Italy",),
    "西班牙": ("Spain",), "葡萄牙": ("Portugal",), "荷兰": ("Netherlands",), "比利时": ("Belgium",),
    "瑞典": ("Sweden",), "挪威": ("Norway",), "丹麦": ("Denmark",), "芬兰": ("Finland",),
    "波兰": ("Poland",), "奥地利": ("Austria",), "瑞士": ("Switzerland",), "爱尔兰": ("Ireland",),
    "捷克": ("Czech Republic", "Czechia"), "匈牙利": ("Hungary",), "俄罗斯": ("Russia",),
    "澳大利亚": ("Australia",), "新西兰": ("New Zealand",), "阿根廷": ("Argentina",),
    "智利": ("Chile",), "墨西哥": ("Mexico",), "新加坡": ("Singapore",), "泰国": ("Thailand",),
    "越南": ("Vietnam",), "马来西亚": ("Malaysia",), "印度尼西亚": ("Indonesia",), "印尼": ("Indonesia",),
    "菲律宾": ("Philippines",), "南非": ("South Africa",), "埃及": ("Egypt",), "土耳其": ("Turkey",),
    "希腊": ("Greece",), "以色列": ("Israel",), "沙特": ("Saudi Arabia",), "阿联酋": ("United Arab Emirates", "UAE"),
    "北京": ("Beijing",), "上海": ("Shanghai",), "广州": ("Guangzhou",), "深圳": ("Shenzhen",),
    "杭州": ("Hangzhou",), "成都": ("Chengdu",), "武汉": ("Wuhan",), "南京": ("Nanjing",),
    "重庆": ("Chongqing",), "天津": ("Tianjin",), "西安": ("Xi'an", "Xian"), "苏州": ("Suzhou",),
    "香港": ("Hong Kong",), "台北": ("Taipei",), "东京": ("Tokyo",), "伦敦": ("London",),
    "巴黎": ("Paris",), "柏林": ("Berlin",), "纽约": ("New York",), "多伦多": ("Toronto",),
    "悉尼": ("Sydney",), "里斯本": ("Lisbon",), "马德里": ("Madrid",), "罗马": ("Rome",),
    "布拉格": ("Prague",), "维也纳": ("Vienna",), "斯德哥尔摩": ("Stockholm",),
    "阿姆斯特丹": ("Amsterdam",), "布宜诺斯艾利斯": ("Buenos Aires",), "圣保罗": ("São Paulo", "Sao Paulo"),
}
