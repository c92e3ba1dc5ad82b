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
