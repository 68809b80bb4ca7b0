"""The provisional-calendar hint: what a caseworker reads under a due date counted before
its year's official holidays were known, and what to do about it. The commands that show
due dates print it once, after their output (never once per case), on standard output
with the rest."""

PROVISIONAL_HINT = (
    "提示：暂定期限所在年度的法定节假日安排尚未载入，暂按仅周六、周日休息计算。"
    "国务院公布该年度安排后，请升级 chinese-calendar（pip install -U chinese-calendar），"
    "或在工作区的 holidays.yaml 中列明该年度的休息日（rest_days）和调休上班日"
    "（working_days），并将该年度写入 complete_years；下次逾期巡查（caseflow escalate）"
    "即重新计算这些期限并记入审计。待重新计算的期限可用“caseflow calendar check”查看。"
)
